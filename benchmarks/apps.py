"""The variants under test, each a WSGI app serving the same lesson routes and templates.

Built through public APIs only (Flask, hookwatch's extension, prometheus_flask_exporter,
structlog):

- ``bare``: plain :class:`flask.Flask` with the ``main``, ``errors`` and ``security``
  blueprints (the same routes, error pages and guards), no observability.
- ``hookwatch``: the bare app with ``Hookwatch(app, registry=...)`` applied and
  ``configure_logging("json", "INFO", <file>)``: request ids, timers, ``X-Request-ID``,
  ``Server-Timing``, every metric, one JSON line per request appended to a file.
- ``exporter``: the bare app plus ``prometheus_flask_exporter.PrometheusMetrics`` defaults.
- ``exporter+structlog``: the do-it-yourself combination: the exporter, plus a plain
  structlog JSON access line per request (method, path, status, duration_ms, a uuid4
  request id) appended to a file from an ``after_request`` hook, by a logger of its own
  that neither reads nor changes structlog's global configuration.

Every factory can be called with no argument, so gunicorn can load it as
``benchmarks.apps:bare()``; the log files then come from ``$LOG_FILE`` (else ``os.devnull``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, TextIO

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry

__all__ = [
    "DIY", "FACTORIES", "LOGGED", "LOG_KEY", "TEMPLATES", "VARIANTS", "bare", "build", "close_logs",
    "STUBS", "exporter", "exporter_structlog", "hookwatch", "log_file_of",
]

TEMPLATES = Path(__file__).resolve().parent.parent / "app" / "templates"
DIY = "exporter+structlog"
VARIANTS = ("bare", "hookwatch", "exporter", DIY)
# Variant name -> factory in this module (gunicorn loads ``benchmarks.apps:<factory>()``).
FACTORIES = {"bare": "bare", "hookwatch": "hookwatch", "exporter": "exporter",
             DIY: "exporter_structlog"}
# The variants that write one ``request_finished`` line per request.
LOGGED = ("hookwatch", DIY)
# Where a factory keeps the log file it opened, so the benchmark can close it.
LOG_KEY = "benchmark_log_file"


def _ok() -> dict[str, str]:
    return {"status": "ok"}


# Endpoints the bare app lacks: the templates link to hookwatch's ``/metrics``, and the
# loopback benchmark polls ``/healthz`` until a server is up.
STUBS = {"hookwatch.metrics": "/metrics", "ops.healthz": "/healthz"}


def _stub_endpoints(app: Flask) -> None:
    """Give ``app`` each endpoint of :data:`STUBS` it does not have, answering a small JSON
    document; where an extension already serves that path (the exporter's ``/metrics``),
    the endpoint is another name for its view, so the link points to it."""
    routed = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    for endpoint, path in STUBS.items():
        if endpoint in app.view_functions:
            continue
        view = app.view_functions[routed[path]] if path in routed else _ok
        app.add_url_rule(path, endpoint, view)


def bare(init: Callable[[Flask], None] | None = None) -> Flask:
    """A plain Flask app with hookwatch's lesson routes and templates and nothing else.

    ``init(app)`` runs before the routes are added, as an extension's set-up would.
    """
    from app.main import errors, main, security

    app = Flask("benchmarks.bare", template_folder=str(TEMPLATES))
    app.config.update(SECRET_KEY="benchmark-only")
    if init is not None:
        init(app)
    for blueprint in (main, errors, security):
        app.register_blueprint(blueprint)
    _stub_endpoints(app)
    return app


def _log_path(log_path: str | None) -> str:
    return log_path or os.environ.get("LOG_FILE") or os.devnull


def _open_log(log_path: str | None) -> TextIO:
    return open(_log_path(log_path), "a", encoding="utf-8")


def hookwatch(log_path: str | None = None, registry: CollectorRegistry | None = None,
              exemplars: bool = True) -> Flask:
    """The bare app with hookwatch's extension applied, everything on (``exemplars`` can be
    turned off), JSON lines appended to ``log_path`` (the process-wide logging set-up, as a
    deployment would make it)."""
    from app.hookwatch import Hookwatch, configure_logging

    stream = _open_log(log_path)
    configure_logging("json", "INFO", stream)
    app = bare(lambda app: Hookwatch(app, registry=registry or CollectorRegistry(),
                                     exemplars=exemplars))
    app.extensions[LOG_KEY] = stream
    return app


def exporter(registry: CollectorRegistry | None = None) -> Flask:
    """The bare app instrumented by prometheus_flask_exporter with its defaults.

    Only the registry is passed, so building the app twice in one process does not clash
    on the global one; every other setting (group_by path, default metrics) is the default.
    """
    return bare(lambda app: _exporter_metrics(app, registry))


def _exporter_metrics(app: Flask, registry: CollectorRegistry | None) -> None:
    from prometheus_flask_exporter import PrometheusMetrics

    app.extensions["benchmark_exporter"] = PrometheusMetrics(
        app, registry=registry or CollectorRegistry())


def access_logger(stream: TextIO) -> Any:
    """A structlog logger of its own writing JSON lines to ``stream``: every setting given
    here, so structlog's global configuration (which hookwatch sets) is neither read nor
    changed."""
    import structlog

    return structlog.wrap_logger(
        structlog.WriteLogger(stream),
        processors=[structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.add_log_level,
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        context_class=dict,
    ).bind()


def exporter_structlog(registry: CollectorRegistry | None = None,
                       log_path: str | None = None) -> Flask:
    """The do-it-yourself combination: the exporter's defaults plus one structlog JSON
    access line per request, appended to ``log_path`` from an ``after_request`` hook."""
    stream = _open_log(log_path)
    log = access_logger(stream)

    def init(app: Flask) -> None:
        _exporter_metrics(app, registry)

        @app.before_request
        def start_timer() -> None:
            g.access_started = time.perf_counter()

        @app.after_request
        def access_line(response: Response) -> Response:
            started = g.get("access_started")
            log.info("request_finished", method=request.method, path=request.path,
                     status=response.status_code,
                     duration_ms=round((time.perf_counter() - started) * 1e3, 3)
                     if started is not None else None,
                     request_id=str(uuid.uuid4()))
            return response

    app = bare(init)
    app.extensions[LOG_KEY] = stream
    return app


def build(name: str, registry: CollectorRegistry | None = None,
          log_path: str | None = None) -> Flask:
    """Variant ``name`` (one of :data:`VARIANTS`) on ``registry``, logging to ``log_path``."""
    if name == "bare":
        return bare()
    if name == "hookwatch":
        return hookwatch(log_path, registry)
    if name == "exporter":
        return exporter(registry)
    if name == DIY:
        return exporter_structlog(registry, log_path)
    raise ValueError(f"unknown variant {name!r}; expected one of {VARIANTS}")


def log_file_of(app: Flask) -> TextIO | None:
    """The log file a factory opened for ``app``, if any."""
    return app.extensions.get(LOG_KEY)


def close_logs(*variants: Flask) -> None:
    """Close the log files of ``variants``, once hookwatch's logging points at stderr: the
    process's later lines would otherwise go to a closed file."""
    from app.hookwatch import configure_logging

    configure_logging("json", "WARNING", sys.__stderr__)
    for app in variants:
        stream = log_file_of(app)
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
