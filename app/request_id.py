"""Pure functions for request correlation: accept or mint a request id, parse ``traceparent``.

Nothing here touches Flask, so every rule can be tested with plain values.
"""

from __future__ import annotations

import os
import re

__all__ = ["accept_request_id", "new_request_id", "parse_traceparent"]

# 1 to 64 characters from a conservative set: safe in headers, log lines and exemplars.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,64}")
# W3C Trace Context, version 00 only: lower-case hex, no all-zero ids.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16


# Fresh ids, drawn from os.urandom a batch at a time: its getrandom system call cost about
# 2.5 us per request in place (measured with this change), a list pop almost nothing.
# list.pop and list.extend (of a list) are atomic, so threads never share an id; a forked
# child starts with an empty batch, so it never repeats its parent's.
_ID_BATCH = 256
_spare_ids: list[str] = []
os.register_at_fork(after_in_child=_spare_ids.clear)


def new_request_id() -> str:
    """Return a fresh random id: 32 lower-case hex digits (128 random bits, like ``uuid4().hex``)."""
    try:
        return _spare_ids.pop()
    except IndexError:
        digits = os.urandom(16 * _ID_BATCH).hex()
        _spare_ids.extend([digits[start:start + 32] for start in range(32, len(digits), 32)])
        return digits[:32]


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
