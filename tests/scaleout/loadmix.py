"""The known request mix of the scale-out tests, and what each request must leave behind."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

__all__ = ["MIX", "Planned", "expected_counts", "load_size", "plan"]

# (path, matched route, status). "{i}" makes a path unique per request: random paths must
# still land in the one unmatched series (route ""), whatever their number.
MIX: tuple[tuple[str, str, int], ...] = (
    ("/", "/", 200),
    ("/user/ada", "/user/<name>", 200),
    ("/users/1", "/users/<int:user_id>", 200),
    ("/users/99", "/users/<int:user_id>", 404),
    ("/no/such/page/{i}", "", 404),
    ("/boom", "/boom", 500),
    ("/slow?ms=5", "/slow", 200),
    ("/bad", "/bad", 400),
    ("/redirect", "/redirect", 302),
    ("/cookie", "/cookie", 200),
    ("/browser", "/browser", 200),
    ("/context", "/context", 200),
    ("/user/grace-{i}", "/user/<name>", 200),
    ("/slow?ms=5", "/slow", 200),
)

SHORT = 1_400
LONG = 20_000


@dataclass(frozen=True)
class Planned:
    path: str
    route: str
    status: int


def load_size() -> int:
    """Requests per server: ``HOOKWATCH_LOADTEST_REQUESTS``, else 20,000 when
    ``HOOKWATCH_LOADTEST=long`` (``make loadtest``), else the short variant of ``make test``."""
    explicit = os.environ.get("HOOKWATCH_LOADTEST_REQUESTS")
    if explicit:
        return int(explicit)
    return LONG if os.environ.get("HOOKWATCH_LOADTEST") == "long" else SHORT


def plan(count: int, start: int = 0) -> list[Planned]:
    """Requests ``start`` … ``start + count - 1`` of the mix, in order."""
    requests = []
    for i in range(start, start + count):
        path, route, status = MIX[i % len(MIX)]
        requests.append(Planned(path.format(i=i), route, status))
    return requests


def expected_counts(requests: list[Planned]) -> Counter[tuple[str, str, str]]:
    """``http_server_request_duration_seconds_count`` increments, by (method, route, status)."""
    return Counter(("GET", r.route, str(r.status)) for r in requests)
