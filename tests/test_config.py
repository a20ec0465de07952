"""Configuration: picked by name, read from the environment, unsafe settings refused."""

from __future__ import annotations

import pytest

from app import create_app
from app.config import ConfigError, check_config, load_config


class TestLoadConfig:
    def test_default_is_development(self) -> None:
        """Without a name or HOOKWATCH_CONFIG the development settings apply."""
        assert load_config(None, {})["NAME"] == "development"

    def test_log_file_unset_or_empty_means_stdout(self) -> None:
        """An empty LOG_FILE is the same as none: lines go to stdout."""
        assert load_config(None, {})["LOG_FILE"] is None
        assert load_config(None, {"LOG_FILE": ""})["LOG_FILE"] is None

    def test_environment_picks_the_config(self) -> None:
        """HOOKWATCH_CONFIG names the configuration; variables override its defaults."""
        settings = load_config(None, {"HOOKWATCH_CONFIG": "production", "SECRET_KEY": "s3",
                                      "LOG_LEVEL": "warning", "METRICS_TOKEN": "t",
                                      "SERVER_TIMING": "off", "LOG_FILE": "/var/log/h.log"})
        assert settings["NAME"] == "production"
        assert settings["LOG_FORMAT"] == "json"
        assert settings["LOG_LEVEL"] == "WARNING"
        assert settings["HOOKWATCH_METRICS_TOKEN"] == "t"
        assert settings["HOOKWATCH_SERVER_TIMING"] is False
        assert settings["LOG_FILE"] == "/var/log/h.log"
        assert settings["SESSION_COOKIE_SECURE"] is True

    def test_unknown_name_is_refused(self) -> None:
        """A typo in the config name is an error that lists the valid names."""
        with pytest.raises(ConfigError, match="development, testing, production"):
            load_config("prod", {})

    def test_bad_boolean_is_refused(self) -> None:
        """SERVER_TIMING accepts only clear booleans."""
        with pytest.raises(ConfigError, match="boolean"):
            load_config("testing", {"SERVER_TIMING": "maybe"})


class TestCheckConfig:
    def test_production_needs_secret_key(self) -> None:
        """Production refuses to start without SECRET_KEY."""
        with pytest.raises(ConfigError, match="SECRET_KEY"):
            check_config(load_config("production", {}))

    def test_create_app_refuses_production_without_secret(self, monkeypatch) -> None:
        """The factory applies the check, so no production app exists without a key."""
        monkeypatch.delenv("SECRET_KEY", raising=False)
        with pytest.raises(ConfigError, match="SECRET_KEY"):
            create_app("production")

    @pytest.mark.parametrize(("key", "value"), [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "LOUD")])
    def test_bad_log_settings_are_refused(self, key: str, value: str) -> None:
        """LOG_FORMAT and LOG_LEVEL must name something that exists."""
        settings = load_config("testing", {})
        settings[key] = value
        with pytest.raises(ConfigError, match=key):
            check_config(settings)
