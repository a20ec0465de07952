"""The ``/metrics`` endpoint: Prometheus text, or OpenMetrics when ``Accept`` asks for it."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

__all__ = ["metrics_blueprint", "token_presented"]


def token_presented(token: str, basic_allowed: bool = False) -> bool:
    """Whether the request carries ``token`` as a bearer token (or, if ``basic_allowed``, as
    the password of Basic auth, which a browser's login prompt sends); constant time."""
    auth = request.authorization
    if auth is None:
        return False
    if auth.type == "bearer":
        presented = auth.token
    elif auth.type == "basic" and basic_allowed:
        presented = auth.password
    else:
        return False
    return hmac.compare_digest((presented or "").encode(), token.encode())


def metrics() -> ResponseReturnValue:
    """The exposition; with ``HOOKWATCH_METRICS_TOKEN`` set, only for its bearer."""
    token = current_app.config.get("HOOKWATCH_METRICS_TOKEN")
    if token and not token_presented(token):
        raise Unauthorized(
            "This endpoint needs 'Authorization: Bearer <METRICS_TOKEN>'.",
            www_authenticate=WWWAuthenticate("bearer", {"realm": "metrics"}),
        )
    body, content_type = current_app.extensions["hookwatch"].metrics.render(
        request.headers.get("Accept"))
    return Response(body, content_type=content_type)


def metrics_blueprint(path: str) -> Blueprint:
    """A blueprint named ``hookwatch`` serving the exposition at ``path``."""
    blueprint = Blueprint("hookwatch", __name__)
    blueprint.add_url_rule(path, "metrics", metrics)
    return blueprint
