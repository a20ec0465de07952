"""The hookwatch lesson app: the classic Flask lessons, instrumented by the extension in
:mod:`app.hookwatch` exactly as a user would instrument their own app.

``create_app`` is the only entry point; importing this package has no side effects.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from prometheus_client import disable_created_metrics

from .config import ConfigError, check_config, load_config
from .dashboard import dashboard
from .hookwatch import Hookwatch, configure_logging
from .hookwatch.logs import LogFileError, open_log_file
from .main import errors, main, security
from .ops import ops
from .sessions import LoggedSessionInterface

__all__ = ["__version__", "create_app"]
__version__ = "0.2.0"


def create_app(config_name: str | None = None, **overrides: Any) -> Flask:
    """Build the app from a named configuration (default ``HOOKWATCH_CONFIG``) plus overrides.

    Overrides are config keys (``SECRET_KEY="..."``), applied after the environment. Two keys
    are for tests and benchmarks: ``LOG_STREAM`` (an open text stream for log lines; it takes
    precedence over ``LOG_FILE``) and ``METRICS_REGISTRY`` (default: a fresh
    ``CollectorRegistry`` for every app). A ``LOG_FILE`` the app opens stays open for the
    process, as ``app.extensions["log_file"]``.

    As an app factory it sets process-wide state the extension leaves alone: logging
    (:func:`~app.hookwatch.configure_logging`), and no ``*_created`` series, which the
    dashboards never read.
    """
    settings = load_config(config_name)
    settings.update(overrides)
    check_config(settings)

    app = Flask(__name__)
    app.config.from_mapping(settings)
    stream = settings.get("LOG_STREAM")
    if stream is None and settings.get("LOG_FILE"):
        try:
            stream = app.extensions["log_file"] = open_log_file(settings["LOG_FILE"])
        except LogFileError as error:
            raise ConfigError(str(error)) from error
    configure_logging(settings["LOG_FORMAT"], settings["LOG_LEVEL"], stream)
    disable_created_metrics()

    hookwatch = Hookwatch(registry=settings.get("METRICS_REGISTRY")).init_app(app)
    hookwatch.warmup.register(compile_templates)  # warm-ups run in an app context
    hookwatch.warmup_exempt_endpoints.update({"ops.healthz", "ops.readyz"})
    app.session_interface = LoggedSessionInterface()
    for blueprint in (main, errors, security, ops):
        app.register_blueprint(blueprint)
    if settings.get("DASHBOARD_ENABLED"):
        app.register_blueprint(dashboard)
    return app


def compile_templates() -> None:
    """Warm-up: compile every template now, not on a client's first request."""
    env = current_app.jinja_env
    for name in env.list_templates():
        env.get_template(name)
