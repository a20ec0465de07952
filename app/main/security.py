"""Request guards and security headers, for every route of the app (not just this blueprint).

- A method that is not written in upper case (``get``) is refused with 501: methods are
  case-sensitive (RFC 9110), Werkzeug would quietly serve it as ``GET``.
- A declared body larger than ``MAX_CONTENT_LENGTH`` is refused with 413 before any view
  runs: Werkzeug checks the limit only when something reads the body.
- Every response says ``X-Content-Type-Options: nosniff``; HTML pages also carry a
  ``Content-Security-Policy`` that allows only this origin's scripts (inline styles stay
  allowed for the lesson pages' ``<style>`` block).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import NotImplemented as MethodNotImplemented
from werkzeug.exceptions import RequestEntityTooLarge

__all__ = ["CONTENT_SECURITY_POLICY", "refuse_bad_requests", "security", "security_headers"]

security = Blueprint("security", __name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@security.before_app_request
def refuse_bad_requests() -> None:
    """Raise 501 for a method not in upper case and 413 for a declared body over the limit."""
    if request.environ["REQUEST_METHOD"] != request.method:  # Werkzeug upper-cases it
        raise MethodNotImplemented("HTTP methods are case-sensitive; this one is not known.")
    length = request.content_length
    if length is not None:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()


@security.after_app_request
def security_headers(response: Response) -> Response:
    """Add ``nosniff`` to every response and a CSP to HTML ones; returns ``response``."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response
