"""Error pages that answer JSON or HTML according to the ``Accept`` header."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

__all__ = ["errors", "wants_json"]

errors = Blueprint("errors", __name__)


def wants_json() -> bool:
    """True when the client prefers JSON to HTML (HTML wins a tie and an empty ``Accept``)."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


@errors.app_errorhandler(HTTPException)
def http_error(error: HTTPException) -> ResponseReturnValue:
    """Every HTTP error, including the 500 Flask makes from an unhandled exception."""
    status = error.code or 500
    request_id = g.get("request_id")
    headers = error.get_headers()
    headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
    if wants_json():
        body = {
            "error": error.name,
            "status": status,
            "message": error.description,
            "request_id": request_id,
        }
        return body, status, headers
    page = render_template("error.html", error=error, status=status, request_id=request_id)
    return page, status, headers
