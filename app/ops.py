"""Operational endpoints: liveness and readiness (hookwatch serves ``/metrics``)."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue

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

