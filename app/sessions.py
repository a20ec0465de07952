"""Signed-cookie sessions that say so when a cookie is rejected.

Flask silently starts a new session when the session cookie's signature does not match
any of ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS`` (a tampered, forged or garbage cookie,
or one signed with a retired key). Here the request also writes one
``session_cookie_rejected`` warning (with its request id, never the cookie's value) when
the session is saved. The cookie itself is left as Flask leaves it: a key put back in
``SECRET_KEY_FALLBACKS`` makes it valid again.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

from .hookwatch import get_logger

__all__ = ["LoggedSessionInterface"]


class LoggedSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie sessions, plus a warning line for a rejected cookie."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        try:
            max_age = int(app.permanent_session_lifetime.total_seconds())
            data = serializer.loads(value, max_age=max_age)
        except BadSignature as error:
            session = self.session_class()
            session.rejected = type(error).__name__  # type: ignore[attr-defined]
            return session
        return self.session_class(data)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        reason = getattr(session, "rejected", None)
        if reason is not None:
            # Logged here, not in open_session: the request id is bound by now.
            get_logger().warning("session_cookie_rejected", reason=reason,
                                 cookie=self.get_cookie_name(app))
        super().save_session(app, session, response)
