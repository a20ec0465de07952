"""hookwatch: a Flask extension that makes the request lifecycle observable.

::

    app = Flask(__name__)
    Hookwatch(app)  # before the app's own hooks: ours then run first and last

Every request then gets an id (``X-Request-ID``, ``g.request_id``), a ``Server-Timing``
header, Prometheus metrics (served at ``/metrics``) and one structlog line. The lifecycle
itself is in :mod:`.hooks`, top to bottom.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from prometheus_client import CollectorRegistry

from .endpoints import metrics_blueprint
from .hooks import RequestLifecycle
from .logs import configure_logging, failure_fields, get_logger
from .metrics import DURATION_BUCKETS, Metrics
from .warmup import Warmup

__all__ = ["Hookwatch", "RequestLifecycle", "Warmup", "configure_logging", "get_logger"]
__version__ = "0.2.0"

# Option -> (config key, default). A keyword argument wins over the config key.
OPTIONS: dict[str, tuple[str, Any]] = {
    "server_timing": ("HOOKWATCH_SERVER_TIMING", True),
    "metrics_path": ("HOOKWATCH_METRICS_PATH", "/metrics"),
    "user_agent_max_chars": ("HOOKWATCH_USER_AGENT_MAX_CHARS", 200),
    "duration_buckets": ("HOOKWATCH_DURATION_BUCKETS", DURATION_BUCKETS),
    "exemplars": ("HOOKWATCH_EXEMPLARS", True),
}


class Hookwatch:
    """The extension: ``Hookwatch(app)``, or ``hookwatch = Hookwatch()`` then
    ``hookwatch.init_app(app)`` in an app factory.

    Options, as keyword arguments here (for every app) or as config keys (per app):
    ``registry`` (a ``CollectorRegistry``; a fresh one per app when not given),
    ``server_timing`` / ``HOOKWATCH_SERVER_TIMING`` (default on), ``metrics_path`` /
    ``HOOKWATCH_METRICS_PATH`` (default ``/metrics``; ``None`` serves none),
    ``user_agent_max_chars`` / ``HOOKWATCH_USER_AGENT_MAX_CHARS`` (200),
    ``duration_buckets`` / ``HOOKWATCH_DURATION_BUCKETS``, ``exemplars`` /
    ``HOOKWATCH_EXEMPLARS`` (default on: each duration observation carries its request id).
    ``HOOKWATCH_METRICS_TOKEN``, if set, is the bearer token ``/metrics`` requires.
    """

    def __init__(self, app: Flask | None = None, *, registry: CollectorRegistry | None = None,
                 **options: Any) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise TypeError(f"unknown Hookwatch option(s): {', '.join(sorted(unknown))}")
        self.registry = registry
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> RequestLifecycle:
        """Instrument ``app``: its hooks, middleware, metrics and ``/metrics``. Returns the
        lifecycle, also ``app.extensions["hookwatch"]``. Changes no process-wide state."""
        if "hookwatch" in app.extensions:
            raise RuntimeError("hookwatch is already initialised on this app")
        settings = {name: self.options.get(name, app.config.get(key, default))
                    for name, (key, default) in OPTIONS.items()}
        metrics = Metrics(self.registry or CollectorRegistry(), __version__,
                          settings["duration_buckets"])
        lifecycle = RequestLifecycle(
            metrics, _warmup(metrics), server_timing=bool(settings["server_timing"]),
            user_agent_max_chars=int(settings["user_agent_max_chars"]),
            exemplars=bool(settings["exemplars"]))
        app.extensions["hookwatch"] = lifecycle
        lifecycle.register(app)
        if settings["metrics_path"]:
            app.register_blueprint(metrics_blueprint(settings["metrics_path"]))
            lifecycle.uncounted_endpoints.add("hookwatch.metrics")
            lifecycle.warmup_exempt_endpoints.add("hookwatch.metrics")
        return lifecycle


def _warmup(metrics: Metrics) -> Warmup:
    """The warm-up, reported in metrics and log lines; it first creates the series that
    dashboards need from the start."""

    def finished(seconds: float) -> None:
        metrics.warmup_duration.set(seconds)
        metrics.ready.set(1)
        get_logger().info("app_warmup_finished", duration_ms=round(seconds * 1000, 3))

    def failed(error: BaseException) -> None:
        get_logger().error("app_warmup_failed", **failure_fields(error))

    warmup = Warmup(on_finished=finished, on_failed=failed)
    warmup.register(metrics.precreate)
    return warmup
