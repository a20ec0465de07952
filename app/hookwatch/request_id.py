"""Pure functions for request correlation: accept or mint a request id, parse ``traceparent``.

Nothing here touches Flask, so every rule can be tested with plain values.
"""

from __future__ import annotations

import re
import uuid

__all__ = ["accept_request_id", "new_request_id", "parse_traceparent"]

# 1 to 64 characters from a conservative set: safe in headers, log lines and exemplars.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,64}")
# W3C Trace Context, version 00 only: lower-case hex, no all-zero ids.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16


def new_request_id() -> str:
    """Return a fresh random id: 32 lower-case hex digits (``uuid4().hex``)."""
    return uuid.uuid4().hex


def accept_request_id(incoming: str | None) -> str:
    """Return ``incoming`` if it is a valid request id, otherwise a new one.

    An invalid value is dropped entirely: it is never echoed or logged.
    """
    if incoming and _REQUEST_ID.fullmatch(incoming):
        return incoming
    return new_request_id()


def parse_traceparent(header: str | None) -> str | None:
    """Return the trace id of a valid W3C ``traceparent`` header, or ``None``."""
    if not header:
        return None
    match = _TRACEPARENT.fullmatch(header)
    if match is None:
        return None
    trace_id, parent_id = match.groups()
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:
        return None
    return trace_id
