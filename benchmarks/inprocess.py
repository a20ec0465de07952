"""In-process WSGI benchmark: microseconds per request for each variant, side by side.

Each repeat times a short batch of calls per variant and route, the variants one after
another; their order rotates from one repeat to the next. Reported: the median over repeats,
the min and max, and the ratio to the bare app as the median of each repeat's own ratio
(:func:`paired_ratio`), with the added µs it gives at bare's median.

Why paired: this VM's CPU switches between two speeds, the slower about 1.8 times the faster,
for a few hundred milliseconds to seconds at a time (a plain Python loop timed back to back
shows it). Batches of a few milliseconds, one variant right after another, mostly see the
same speed, so each repeat's ratio holds where the medians of whole runs swing by tens of
percent.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from werkzeug.test import EnvironBuilder

__all__ = [
    "CALLS", "REPEATS", "REQUEST_LINE", "ROUTES", "WARMUP_CALLS", "Cell", "added_us", "call",
    "count_request_lines", "count_requests", "make_environ", "miscounted", "paired_ratio",
    "request_series", "run", "summarise", "unlogged",
]

# (label in the table, URL path, route rule as hookwatch labels it)
ROUTES = (("/", "/", "/"), ("/user/<name>", "/user/ada", "/user/<name>"))
# A request line, as orjson writes it or (spaced) json.dumps; for re and grep -E alike.
REQUEST_LINE = '"event": ?"request_finished"'
HEADERS = {"User-Agent": "hookwatch-benchmark/1.0", "Accept": "text/html"}
# Calls of each app and route before timing: the warm-up run, templates compiled, series made.
WARMUP_CALLS = 200
# Default batch size and count: batches of about 10 ms (see the module's docstring).
CALLS, REPEATS = 50, 201


@dataclass
class Cell:
    """One variant on one route: seconds per request, one value per repeat."""

    samples: list[float] = field(default_factory=list)

    @property
    def median_us(self) -> float:
        return statistics.median(self.samples) * 1e6

    @property
    def min_us(self) -> float:
        return min(self.samples) * 1e6

    @property
    def max_us(self) -> float:
        return max(self.samples) * 1e6


def paired_ratio(samples: list[float], base_samples: list[float]) -> float:
    """The median over repeats of each batch's time over the base's batch in the same repeat."""
    return statistics.median(sample / base
                             for sample, base in zip(samples, base_samples, strict=True))


def added_us(cells: dict[tuple[str, str], Cell], name: str, route: str,
             base: str = "bare") -> float:
    """µs per request that variant ``name`` adds to ``base`` on ``route``: their paired
    ratio, applied to the base's median."""
    base_cell = cells[base, route]
    return (paired_ratio(cells[name, route].samples, base_cell.samples) - 1) * base_cell.median_us


def make_environ(path: str) -> dict[str, Any]:
    """A GET environ for ``path``, built once and copied for every call."""
    builder = EnvironBuilder(path=path, headers=HEADERS, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _start_response(status: str, headers: Iterable[Any], exc_info: Any = None) -> Callable:
    if not status.startswith("200"):
        raise AssertionError(f"benchmark request answered {status}")
    return lambda data: None


def call(app: Callable, environ: dict[str, Any]) -> bytes:
    """One WSGI request, the body read to the end and the iterable closed."""
    result = app(dict(environ), _start_response)
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _batch(app: Callable, environ: dict[str, Any], calls: int) -> float:
    perf_counter = time.perf_counter
    started = perf_counter()
    for _ in range(calls):
        call(app, environ)
    return (perf_counter() - started) / calls


def run(
    apps: dict[str, Callable], calls: int, repeats: int, warmup_calls: int = WARMUP_CALLS
) -> tuple[dict[tuple[str, str], Cell], dict[tuple[str, str], int]]:
    """Time every app on every route; return the cells and how many requests each got."""
    environs = {label: make_environ(path) for label, path, _ in ROUTES}
    cells = {(name, label): Cell() for name in apps for label, _, _ in ROUTES}
    sent = {key: 0 for key in cells}
    names = list(apps)
    for name in names:
        for label, environ in environs.items():
            for _ in range(warmup_calls):
                call(apps[name], environ)
            sent[name, label] += warmup_calls
    for repeat in range(repeats):
        shift = repeat % len(names)
        order = names[shift:] + names[:shift]
        for label, environ in environs.items():
            for name in order:
                cells[name, label].samples.append(_batch(apps[name], environ, calls))
                sent[name, label] += calls
    return cells, sent


def summarise(cells: dict[tuple[str, str], Cell], sent: dict[tuple[str, str], int]
              ) -> dict[str, dict[str, dict[str, float]]]:
    """Route -> variant -> median, min, max, paired ratio and added µs against ``bare``,
    requests."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for label, _, _ in ROUTES:
        bare = cells["bare", label]
        table[label] = {
            name: {
                "median_us": cell.median_us,
                "min_us": cell.min_us,
                "max_us": cell.max_us,
                "ratio": paired_ratio(cell.samples, bare.samples),
                "added_us": added_us(cells, name, label),
                "requests": sent[name, route],
            }
            for (name, route), cell in cells.items() if route == label
        }
    return table


def request_series(kind: str, rule: str) -> tuple[str, dict[str, str], str]:
    """Where an app of ``kind`` (hookwatch or exporter) counts ``GET rule`` requests: the
    sample's name, its method and route labels, and the name of its status label. The
    exporter labels by raw path: the benchmark's ``/user/<name>`` requests are ``/user/ada``."""
    if kind == "hookwatch":
        return ("http_server_request_duration_seconds_count",
                {"http_request_method": "GET", "http_route": rule}, "http_response_status_code")
    path = "/user/ada" if rule == "/user/<name>" else rule
    return "flask_http_request_duration_seconds_count", {"method": "GET", "path": path}, "status"


def count_requests(kind: str, registry: Any, rule: str) -> float | None:
    """How many ``GET rule`` requests with status 200 an app of ``kind`` (hookwatch or
    exporter) counted in its own metrics."""
    name, labels, status = request_series(kind, rule)
    return registry.get_sample_value(name, {**labels, status: "200"})


def miscounted(kind: str, name: str, registry: Any, sent: dict[tuple[str, str], int]
               ) -> list[str]:
    """For variant ``name``, an app of ``kind`` (bare, hookwatch or exporter), each route on
    which its own metrics did not count exactly what it was sent; bare counts nothing."""
    if kind == "bare":
        return []
    problems = []
    for label, _, rule in ROUTES:
        counted = count_requests(kind, registry, rule)
        if counted != sent[name, label]:
            problems.append(f"{name} {label}: sent {sent[name, label]}, counted {counted}")
    return problems


def unlogged(name: str, logged: int, sent: dict[tuple[str, str], int]) -> list[str]:
    """A problem if variant ``name`` did not log one request line (``logged`` in all) per
    request it was sent, else none."""
    expected = sum(sent[name, label] for label, _, _ in ROUTES)
    return [] if logged == expected else [f"{name}: sent {expected}, {logged} request lines"]


def count_request_lines(path: str) -> int:
    """How many ``request_finished`` lines the log file at ``path`` holds."""
    with open(path, encoding="utf-8") as log:
        return sum(re.search(REQUEST_LINE, line) is not None for line in log)
