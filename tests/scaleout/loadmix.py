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
# runserver --processes forks a child per request (about 10 ms of CPU each on 2 cores, 70 to
# 150 requests/s): 20,000 requests would take over 4 minutes alone, so it gets a quarter.
LONG_FORKING = 5_000


@dataclass(frozen=True)
class Planned:
    path: str
    route: str
    status: int


def load_size(forking: bool = False) -> int:
    """Requests per server: ``HOOKWATCH_LOADTEST_REQUESTS``, else 20,000 (5,000 for a server
    that forks per request) when ``HOOKWATCH_LOADTEST=long`` (``make loadtest``), else the
    short variant of ``make test``."""
    explicit = os.environ.get("HOOKWATCH_LOADTEST_REQUESTS")
    if explicit:
        return int(explicit)
    if os.environ.get("HOOKWATCH_LOADTEST") != "long":
        return SHORT
    return LONG_FORKING if forking else LONG


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
