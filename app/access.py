"""Who may look: loopback hosts, and clients that present the ``METRICS_TOKEN``."""

from __future__ import annotations

import hmac
import ipaddress

from flask import request

__all__ = ["is_loopback", "token_presented"]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any loopback address (127.0.0.0/8, ``::1``, ``[::1]``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
