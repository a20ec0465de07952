"""In-process WSGI benchmark: microseconds per request for each variant, side by side.

The machine's speed drifts (by 20% within minutes on a shared VM; two CPU speeds 1.8 times
apart for stretches of tens of milliseconds to seconds on some), so no variant gets a long
run of its own. A *round* is ``slices`` passes; each pass runs a *slice* of ``calls``
requests of every variant on every route, the variants in an order that rotates from one
pass to the next. A variant's time in a round is its µs per request over all of the
round's slices. Each round gives its own ratio to bare (and added µs, and hookwatch's
added time over the do-it-yourself combination's), and the tables report the **median over
rounds** of those per-round figures: a stretch of slower speed lands on every variant of the
passes it falls in, and moves at most the rounds it falls in, not the median.

The clock is by default the benchmark thread's CPU time (``time.thread_time``: user and
system time, the log file's ``write`` calls included), so time the thread spends waiting
while other processes run on a shared machine's cores is not counted; ``clock="wall"``
times with ``time.perf_counter`` instead. On an idle machine the two agree.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from werkzeug.test import EnvironBuilder

__all__ = [
    "CALLS", "CLOCKS", "REQUEST_LINE", "ROUNDS", "ROUTES", "SLICES", "WARMUP_CALLS", "Cell",
    "added_ratio", "call", "count_request_lines", "count_requests", "make_environ",
    "miscounted", "per_round", "run", "summarise", "unlogged",
]

# (label in the table, URL path, route rule as hookwatch labels it)
ROUTES = (("/", "/", "/"), ("/user/<name>", "/user/ada", "/user/<name>"))
# A request line, as orjson writes it or (spaced) json.dumps; for re and grep -E alike.
REQUEST_LINE = '"event": ?"request_finished"'
HEADERS = {"User-Agent": "hookwatch-benchmark/1.0", "Accept": "text/html"}
# Calls of each app and route before timing: the warm-up run, templates compiled, series made.
WARMUP_CALLS = 200
# Defaults: 9 rounds of 8 passes of 250-call slices (a slice is about 40-100 ms here).
ROUNDS, SLICES, CALLS = 9, 8, 250
# The clocks a slice can be timed with: the thread's CPU time, or elapsed time.
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.thread_time, "wall": time.perf_counter}


@dataclass
class Cell:
    """One variant on one route: seconds per request, one value per round."""

    rounds: list[float] = field(default_factory=list)

    @property
    def median_us(self) -> float:
        return statistics.median(self.rounds) * 1e6

    @property
    def min_us(self) -> float:
        return min(self.rounds) * 1e6

    @property
    def max_us(self) -> float:
        return max(self.rounds) * 1e6


def per_round(samples: list[float], base: list[float],
              figure: Callable[[float, float], float]) -> list[float]:
    """``figure(sample, base)`` for each round, the rounds paired in order."""
    return [figure(sample, base_sample) for sample, base_sample in zip(samples, base, strict=True)]


def ratio(samples: list[float], base: list[float]) -> float:
    """The median over rounds of each round's time over the base's in the same round."""
    return statistics.median(per_round(samples, base, lambda s, b: s / b))


def added_us(samples: list[float], base: list[float]) -> float:
    """The median over rounds of each round's µs per request over the base's."""
    return statistics.median(per_round(samples, base, lambda s, b: (s - b) * 1e6))


def added_ratio(samples: list[float], other: list[float], base: list[float]) -> float:
    """The median over rounds of each round's time added to the base by ``samples`` over the
    time added by ``other`` in the same round (infinite in a round where ``other`` added
    none)."""
    def one(sample: float, other_sample: float, base_sample: float) -> float:
        added_other = other_sample - base_sample
        return (sample - base_sample) / added_other if added_other > 0 else float("inf")

    return statistics.median(one(s, o, b) for s, o, b in zip(samples, other, base, strict=True))


def make_environ(path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A GET environ for ``path``, built once and copied for every call."""
    builder = EnvironBuilder(path=path, headers=headers or HEADERS,
                             environ_base={"REMOTE_ADDR": "127.0.0.1"})
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


def _slice(app: Callable, environ: dict[str, Any], calls: int,
           clock: Callable[[], float]) -> float:
    """Seconds for ``calls`` requests in a row, by ``clock``."""
    started = clock()
    for _ in range(calls):
        call(app, environ)
    return clock() - started


def run(apps: dict[str, Callable], rounds: int = ROUNDS, slices: int = SLICES,
        calls: int = CALLS, warmup_calls: int = WARMUP_CALLS, clock: str = "cpu"
        ) -> tuple[dict[tuple[str, str], Cell], dict[tuple[str, str], int]]:
    """Time every app on every route, interleaved, by ``clock`` (a key of :data:`CLOCKS`);
    return the cells (keyed by variant and route label) and how many requests each got."""
    timer = CLOCKS[clock]
    environs = {label: make_environ(path) for label, path, _ in ROUTES}
    cells = {(name, label): Cell() for name in apps for label in environs}
    sent = {key: 0 for key in cells}
    names = list(apps)
    for name in names:
        for label, environ in environs.items():
            for _ in range(warmup_calls):
                call(apps[name], environ)
            sent[name, label] += warmup_calls
    passes = 0
    for _ in range(rounds):
        spent = {key: 0.0 for key in cells}
        for _ in range(slices):
            shift = passes % len(names)
            passes += 1
            for label, environ in environs.items():
                for name in names[shift:] + names[:shift]:
                    spent[name, label] += _slice(apps[name], environ, calls, timer)
                    sent[name, label] += calls
        for key, seconds in spent.items():
            cells[key].rounds.append(seconds / (slices * calls))
    return cells, sent


def summarise(cells: dict[tuple[str, str], Cell], sent: dict[tuple[str, str], int],
              diy: str | None = None, compared: tuple[str, ...] = ("hookwatch",)
              ) -> dict[str, dict[str, dict[str, float]]]:
    """Route -> variant -> medians over rounds: µs per request (with the rounds' min and max),
    ratio to ``bare`` (and its min and max over rounds), added µs; for the variants in
    ``compared``, their added time over ``diy``'s (when ``diy`` ran); requests sent."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for label, _, _ in ROUTES:
        base = cells["bare", label].rounds
        row: dict[str, dict[str, float]] = {}
        for (name, route), cell in cells.items():
            if route != label:
                continue
            ratios = per_round(cell.rounds, base, lambda s, b: s / b)
            row[name] = {
                "median_us": cell.median_us,
                "min_us": cell.min_us,
                "max_us": cell.max_us,
                "ratio": statistics.median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "added_us": added_us(cell.rounds, base),
                "requests": sent[name, route],
            }
            if diy is not None and name in compared and (diy, label) in cells:
                row[name]["added_ratio"] = added_ratio(cell.rounds, cells[diy, label].rounds,
                                                       base)
        table[label] = row
    return table


def request_series(kind: str, rule: str) -> tuple[str, dict[str, str], str]:
    """Where an app of ``kind`` (hookwatch, or anything with the exporter) counts
    ``GET rule`` requests: the sample's name, its method and route labels, and the name of
    its status label. The exporter labels by raw path: ``/user/<name>`` is ``/user/ada``."""
    if kind == "hookwatch":
        return ("http_server_request_duration_seconds_count",
                {"http_request_method": "GET", "http_route": rule}, "http_response_status_code")
    path = "/user/ada" if rule == "/user/<name>" else rule
    return "flask_http_request_duration_seconds_count", {"method": "GET", "path": path}, "status"


def count_requests(kind: str, registry: Any, rule: str) -> float | None:
    """How many ``GET rule`` requests with status 200 an app of ``kind`` counted in its own
    metrics (read from the registry it was given)."""
    name, labels, status = request_series(kind, rule)
    return registry.get_sample_value(name, {**labels, status: "200"})


def miscounted(name: str, registry: Any, sent: dict[tuple[str, str], int]) -> list[str]:
    """For variant ``name``, each route on which its own metrics did not count exactly what
    it was sent; bare counts nothing."""
    if name == "bare":
        return []
    problems = []
    for label, _, rule in ROUTES:
        counted = count_requests(name, registry, rule)
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
