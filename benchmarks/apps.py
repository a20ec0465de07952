"""The variants under test, each a WSGI app serving the same lesson routes and templates.

- ``bare``: plain :class:`flask.Flask` with the ``main``, ``errors`` and ``security`` blueprints
  (the same routes, error pages and guards), no observability hooks.
- ``hookwatch``: ``create_app("production")`` with everything on, JSON log lines to a file.
- ``exporter``: the bare app plus ``prometheus_flask_exporter.PrometheusMetrics`` defaults
  (a test dependency, pinned in requirements-dev.txt, for the benchmark and its smoke test).

Every factory takes no required argument so gunicorn can load it as ``benchmarks.apps:bare()``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Callable

from flask import Blueprint, Flask
from prometheus_client import CollectorRegistry

__all__ = ["TEMPLATES", "VARIANTS", "bare", "close_logs", "exporter", "hookwatch"]

TEMPLATES = Path(__file__).resolve().parent.parent / "app" / "templates"
VARIANTS = ("bare", "hookwatch", "exporter")


def _stub_ops() -> Blueprint:
    """Endpoints named like hookwatch's ``ops`` blueprint, so the templates' ``url_for``
    calls build the same links; the bare app has no metrics to serve behind them."""
    ops = Blueprint("ops", __name__)
    for rule in ("/healthz", "/readyz", "/metrics"):
        ops.add_url_rule(rule, rule.strip("/"), lambda: {"status": "ok"})
    return ops


def bare(init: Callable[[Flask], None] | None = None) -> Flask:
    """A plain Flask app with hookwatch's routes and templates and nothing else.

    ``init(app)`` runs before the routes are added, as an extension's set-up would, so an
    extension's own ``/metrics`` rule takes precedence over the stub.
    """
    from app.main import errors, main, security

    app = Flask("benchmarks.bare", template_folder=str(TEMPLATES))
    app.config.update(SECRET_KEY="benchmark-only")
    if init is not None:
        init(app)
    for blueprint in (main, errors, security, _stub_ops()):
        app.register_blueprint(blueprint)
    return app


def hookwatch(log_path: str | None = None, registry: CollectorRegistry | None = None) -> Any:
    """hookwatch in its production configuration, its JSON lines appended to ``log_path``
    through the ``LOG_FILE`` setting, as a deployment would set it.

    ``log_path`` defaults to ``$LOG_FILE`` (gunicorn runs), else ``os.devnull``; the open
    file is ``app.extensions["log_file"]``. Each request pays for its own line's write.
    """
    from app import create_app

    return create_app(
        "production",
        SECRET_KEY="benchmark-only",
        LOG_FILE=log_path or os.environ.get("LOG_FILE") or os.devnull,
        METRICS_REGISTRY=registry or CollectorRegistry(),
    )


def exporter(registry: CollectorRegistry | None = None) -> Flask:
    """The bare app instrumented by prometheus_flask_exporter with its defaults.

    Only the registry is passed, so building the app twice in one process does not clash
    on the global one; every other setting (group_by path, default metrics) is the default.
    """
    from prometheus_flask_exporter import PrometheusMetrics

    def init(app: Flask) -> None:
        app.extensions["benchmark_exporter"] = PrometheusMetrics(
            app, registry=registry or CollectorRegistry()
        )

    return bare(init)


def close_logs(*variants: Any) -> None:
    """Close the log files of the hookwatch apps among ``variants``, once logging points at
    stderr: the process's later lines would otherwise go to a closed file."""
    from app.logs import configure_logging

    configure_logging("json", "WARNING", sys.stderr)
    for app in variants:
        stream = app.extensions.get("log_file")
        if stream is not None:
            # A pipe whose reader died fails the last flush: the count check reports it.
            with contextlib.suppress(OSError):
                stream.close()
