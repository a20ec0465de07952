"""Configuration classes, read from the environment when the app is created (never at import)."""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping

__all__ = ["CONFIGS", "ConfigError", "check_config", "load_config"]


class ConfigError(RuntimeError):
    """The environment asks for something this configuration refuses."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"expected a boolean (1/0, true/false, on/off), got {value!r}")


class Config:
    """Settings shared by every configuration; subclasses change the defaults."""

    NAME = "base"
    DEBUG = False
    TESTING = False
    SECRET_KEY: str | None = "dev-only-not-secret"
    LOG_FORMAT = "console"
    LOG_LEVEL = "INFO"
    LOG_FILE: str | None = None  # None: stdout
    HOOKWATCH_SERVER_TIMING = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    MAX_CONTENT_LENGTH = 1024 * 1024
    SLOW_MAX_MS = 5000
    HOOKWATCH_USER_AGENT_MAX_CHARS = 200
    # The built-in live dashboard (/dashboard); production serves it only when asked.
    DASHBOARD_ENABLED = True
    DASHBOARD_RECENT_REQUESTS = 20

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """Return this configuration as a dict, with environment variables applied."""
        settings = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}
        settings["SECRET_KEY"] = env.get("SECRET_KEY") or cls.SECRET_KEY
        settings["LOG_FORMAT"] = env.get("LOG_FORMAT", cls.LOG_FORMAT).lower()
        settings["LOG_LEVEL"] = env.get("LOG_LEVEL", cls.LOG_LEVEL).upper()
        settings["LOG_FILE"] = env.get("LOG_FILE") or cls.LOG_FILE
        settings["HOOKWATCH_METRICS_TOKEN"] = env.get("METRICS_TOKEN") or None
        settings["HOOKWATCH_SERVER_TIMING"] = _flag(env.get("SERVER_TIMING"),
                                                    cls.HOOKWATCH_SERVER_TIMING)
        settings["DASHBOARD_ENABLED"] = _flag(env.get("DASHBOARD_ENABLED"), cls.DASHBOARD_ENABLED)
        return settings


class DevelopmentConfig(Config):
    """Console logs, a dev-only secret key, the dashboard on."""

    NAME = "development"


class TestingConfig(Config):
    """Exceptions propagate to the test; JSON logs, for tests to parse."""

    NAME = "testing"
    TESTING = True
    LOG_FORMAT = "json"


class ProductionConfig(Config):
    """JSON logs, secure cookies, no dashboard unless asked; SECRET_KEY is required."""

    NAME = "production"
    SECRET_KEY = None
    LOG_FORMAT = "json"
    SESSION_COOKIE_SECURE = True
    DASHBOARD_ENABLED = False


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(name: str | None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Pick a configuration by name (default: ``HOOKWATCH_CONFIG``, then development)."""
    env = os.environ if env is None else env
    name = name or env.get("HOOKWATCH_CONFIG") or "development"
    if name not in CONFIGS:
        raise ConfigError(f"unknown configuration {name!r}; choose one of {', '.join(CONFIGS)}")
    return CONFIGS[name].from_env(env)


def check_config(settings: Mapping[str, Any]) -> None:
    """Refuse settings that would be unsafe or cannot work."""
    if not settings.get("SECRET_KEY"):
        raise ConfigError(f"{settings['NAME']} configuration needs SECRET_KEY set in the environment")
    if settings["LOG_FORMAT"] not in {"console", "json"}:
        raise ConfigError(f"LOG_FORMAT must be 'console' or 'json', got {settings['LOG_FORMAT']!r}")
    if settings["LOG_LEVEL"] not in logging.getLevelNamesMapping():
        raise ConfigError(f"LOG_LEVEL must be a logging level name such as INFO, got {settings['LOG_LEVEL']!r}")
