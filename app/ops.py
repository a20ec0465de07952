"""Operational endpoints: liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from .access import token_presented

__all__ = ["ops"]

ops = Blueprint("ops", __name__)


@ops.route("/healthz")
def healthz() -> ResponseReturnValue:
    """200 while the process lives."""
    return {"status": "ok"}


@ops.route("/readyz")
def readyz() -> ResponseReturnValue:
    """200 once this process has warmed up, else 503."""
    if current_app.extensions["hookwatch"].warmup.done:
        return {"status": "ready"}
    return {"status": "warming up"}, 503


@ops.route("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text, or OpenMetrics when ``Accept`` asks for it; bearer token if configured."""
    token = current_app.config.get("METRICS_TOKEN")
    if token and not token_presented(token):
        raise Unauthorized(
            "This endpoint needs 'Authorization: Bearer <METRICS_TOKEN>'.",
            www_authenticate=WWWAuthenticate("bearer", {"realm": "metrics"}),
        )
    body, content_type = current_app.extensions["hookwatch"].metrics.render(
        request.headers.get("Accept")
    )
    return Response(body, content_type=content_type)
