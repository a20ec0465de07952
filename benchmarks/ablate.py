"""Where hookwatch's added time goes: full hookwatch against copies of it with one part
switched off, side by side with the bare app in one in-process run.

A part's cost is the full app's added µs minus the copy's, each paired with bare's batches
(:func:`benchmarks.inprocess.added_us`). The copies are for measuring only:
switching a part off reaches into hookwatch's internals, which no user code should do.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

from prometheus_client import CollectorRegistry

from . import apps, inprocess

__all__ = ["GAUGE", "HISTOGRAMS", "LINE", "PARTS", "SERVER_TIMING", "WRITE", "run"]


class _Still:
    """An in-flight gauge child that does not move."""

    def inc(self) -> None:
        pass

    def dec(self) -> None:
        pass


def _skip(*_: Any) -> None:
    pass


def _without_write(app: Any) -> None:
    app.extensions["hookwatch"].request_log._sink.write_line = _skip


def _without_line(app: Any) -> None:
    app.extensions["hookwatch"]._log = _skip


def _without_histograms(app: Any) -> None:
    app.extensions["hookwatch"].metrics.record_request = _skip


def _without_gauge(app: Any) -> None:
    app.extensions["hookwatch"].metrics.active_for = lambda _method: _Still()


def _without_server_timing(app: Any) -> None:
    app.extensions["hookwatch"].server_timing = False


# The parts' labels, shared with benchmarks.parts (the same parts timed in a loop).
LINE = "the request line (its fields, JSON, write)"
WRITE = "… of which the write (lock, flush, system call)"
HISTOGRAMS = "the histograms (7 observations)"
GAUGE = "the in-flight gauge (up and down)"
SERVER_TIMING = "the Server-Timing header"

# label -> how to switch the part off on a fresh hookwatch app
PARTS: dict[str, Callable[[Any], None]] = {
    LINE: _without_line,
    WRITE: _without_write,
    HISTOGRAMS: _without_histograms,
    GAUGE: _without_gauge,
    SERVER_TIMING: _without_server_timing,
}

NESTED = {WRITE}  # inside the request line's cost


def run(calls: int, repeats: int) -> dict[str, Any]:
    """Route -> {"added_us": full hookwatch over bare, part -> µs it costs}."""
    with tempfile.TemporaryDirectory(prefix="hookwatch-ablate-") as tmp:
        variants: dict[str, Any] = {}
        try:
            variants["bare"] = apps.bare()
            for name in ("hookwatch", *PARTS):
                variants[name] = apps.hookwatch(os.path.join(tmp, "requests.log"),
                                                CollectorRegistry())
                if name in PARTS:
                    PARTS[name](variants[name])
            cells, _ = inprocess.run(variants, calls, repeats)
        finally:
            apps.close_logs(*variants.values())
    table: dict[str, Any] = {}
    for route, _, _ in inprocess.ROUTES:
        full_us = inprocess.added_us(cells, "hookwatch", route)
        table[route] = {"added_us": full_us,
                        **{part: full_us - inprocess.added_us(cells, part, route)
                           for part in PARTS}}
    return table


def markdown(table: dict[str, Any]) -> str:
    """One row per part, one column per route."""
    routes = list(table)
    lines = ["| part of hookwatch's added time | " + " | ".join(f"`{r}` µs" for r in routes)
             + " |", "|---|" + "---:|" * len(routes),
             "| **all of it** (hookwatch over bare) | "
             + " | ".join(f"**{table[r]['added_us']:.1f}**" for r in routes) + " |"]
    for part in PARTS:
        lines.append(f"| {part} | " + " | ".join(f"{table[r][part]:.1f}" for r in routes) + " |")
    rest = [table[r]["added_us"] - sum(table[r][part] for part in PARTS if part not in NESTED)
            for r in routes]
    lines.append("| the rest: id, request state, log context, phase stamps, `X-Request-ID`, "
                 "sizes, the hooks' calls | " + " | ".join(f"{us:.1f}" for us in rest) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run(calls=inprocess.CALLS, repeats=inprocess.REPEATS)))
