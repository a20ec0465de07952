"""hookwatch: a Flask app whose request lifecycle is fully observable.

``create_app`` is the only entry point; importing this package has no side effects.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from .config import check_config, load_config
from .dashboard import dashboard
from .hooks import HookwatchFlask, init_app
from .logs import configure_logging, get_logger, open_log_file
from .main import errors, main, security
from .metrics import Metrics
from .ops import ops
from .sessions import LoggedSessionInterface
from .warmup import Warmup

__all__ = ["__version__", "create_app"]
__version__ = "0.1.0"


def create_app(config_name: str | None = None, **overrides: Any) -> HookwatchFlask:
    """Build the app from a named configuration (default ``HOOKWATCH_CONFIG``) plus overrides.

    Overrides are config keys (``SECRET_KEY="..."``), applied after the environment. Two keys
    are for tests and benchmarks: ``LOG_STREAM`` (an open text stream for log lines; it takes
    precedence over ``LOG_FILE``) and ``METRICS_REGISTRY`` (default: a fresh
    ``CollectorRegistry`` for every app). A ``LOG_FILE`` the app opens stays open for the
    process, as ``app.extensions["log_file"]``.
    """
    settings = load_config(config_name)
    settings.update(overrides)
    check_config(settings)

    app = HookwatchFlask(__name__)
    app.session_interface = LoggedSessionInterface()
    app.config.from_mapping(settings)
    stream = settings.get("LOG_STREAM")
    if stream is None and settings.get("LOG_FILE"):
        stream = app.extensions["log_file"] = open_log_file(settings["LOG_FILE"])
    request_log = configure_logging(settings["LOG_FORMAT"], settings["LOG_LEVEL"], stream)
    metrics = Metrics(settings.get("METRICS_REGISTRY") or CollectorRegistry(), __version__)
    warmup = _build_warmup(app, metrics)
    init_app(app, metrics, warmup, request_log)

    for blueprint in (main, errors, security, ops):
        app.register_blueprint(blueprint)
    if settings.get("DASHBOARD_ENABLED"):
        app.register_blueprint(dashboard)
    return app


def _build_warmup(app: HookwatchFlask, metrics: Metrics) -> Warmup:
    """The default warm-up: series that dashboards need from the start, compiled templates."""
    logger = get_logger()  # the general path: it runs in a request and carries its id

    def finished(seconds: float) -> None:
        metrics.warmup_duration.set(seconds)
        metrics.ready.set(1)
        logger.info("app_warmup_finished", duration_ms=round(seconds * 1000, 3))

    def failed(error: BaseException) -> None:
        logger.error("app_warmup_failed", error_type=type(error).__name__, exc_info=error)

    def compile_templates() -> None:
        for name in app.jinja_env.list_templates():
            app.jinja_env.get_template(name)

    warmup = Warmup(on_finished=finished, on_failed=failed)
    warmup.register(metrics.precreate)
    warmup.register(compile_templates)
    return warmup
