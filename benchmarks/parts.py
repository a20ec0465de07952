"""hookwatch's per-request work, and prometheus_flask_exporter's, timed alone in a tight loop:
what the breakdown's parts (:mod:`benchmarks.ablate`, measured inside whole requests) cost
when nothing else runs between two calls.

Inside a request the same work runs between about a million instructions of Flask,
werkzeug and Jinja; the difference between the two tables includes what that adds to each
(the two methods also differ: the breakdown switches a part off, this calls it alone).
The loops reach into hookwatch's internals, for measuring only, as the breakdown does.

``python -m benchmarks.parts [--calls N] [--repeats R]`` prints one row per part: the
median µs per call over the repeats, less the loop's own cost with only the set-up in it
(a new response for the steps, nothing for most parts).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry

from app.hooks import RequestLifecycle, RequestState, _stamp
from app.logs import current_request

from . import apps, inprocess
from .ablate import GAUGE, HISTOGRAMS, LINE, SERVER_TIMING, WRITE

__all__ = [
    "CALLS", "EXPORTER_HOOKS", "HOOKWATCH_STEPS", "REPEATS", "Loop", "main", "markdown",
    "median_us", "no_setup", "run",
]

HOOKWATCH_STEPS = "hookwatch: its four steps, whole"
EXPORTER_HOOKS = "prometheus_flask_exporter: its three hooks, whole"
CALLS, REPEATS = 20_000, 5  # calls per loop, loops per part
Loop = tuple[Callable[[], Any], Callable[[], Any]]  # (timed, its set-up alone)


def _new_response() -> Response:
    """The response a step or hook is given, new for each call as in a request."""
    return Response(b"<h1>Hello</h1>")


def no_setup() -> None:
    """The set-up of a loop that needs none: its cost is the loop's own."""


def median_us(loop: Loop, calls: int, repeats: int) -> float:
    """Median over ``repeats`` of µs per call of the timed action, less its set-up's."""
    def per_call(function: Callable[[], Any]) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            function()
        return (time.perf_counter() - started) / calls * 1e6

    action, setup = loop
    return statistics.median(per_call(action) - per_call(setup) for _ in range(repeats))


def _new_state() -> RequestState:
    """A request's state as our after_request finds it."""
    state = RequestState("0" * 31 + "1", "GET", "/")
    state.started = state.before_done = state.view_done = time.perf_counter()
    state.status, state.response_bytes, state.phase_seconds = 200, 1000, (1e-5, 1e-4, 1e-5)
    return state


def _hookwatch_loops(lifecycle: RequestLifecycle, req: Any, line: bytes) -> dict[str, Loop]:
    """Our four steps as Flask calls them (each pass a new request to them), then the
    breakdown's parts one by one; ``line`` is a request line as the app writes it."""
    state = _new_state()
    active = lifecycle.metrics.active_for("GET")

    def four_steps() -> None:
        lifecycle.before_request()
        _stamp("before_done")  # as HookwatchFlask does around the view
        _stamp("view_done")
        lifecycle.after_request(_new_response())
        lifecycle.teardown_request(None, False)

    def after_request(server_timing: bool) -> Callable[[], Any]:
        finishing = _new_state()

        def finish() -> None:
            kept = lifecycle.server_timing
            lifecycle.server_timing = server_timing
            token = current_request.set(finishing)  # the request our after_request finishes
            try:
                lifecycle.after_request(_new_response())
            finally:
                current_request.reset(token)
                lifecycle.server_timing = kept
        return finish

    return {
        HOOKWATCH_STEPS: (four_steps, _new_response),
        LINE: (lambda: lifecycle._log(state, req, 1.5e-4, None), no_setup),
        WRITE: (lambda: lifecycle.request_log._sink.write_line(line), no_setup),
        HISTOGRAMS: (lambda: lifecycle.metrics.record_request(
            state.method, state.route, state.status, 1.5e-4, 0, state.response_bytes,
            {"request_id": state.request_id}, state.phase_seconds, 1e-5), no_setup),
        GAUGE: (lambda: (active.inc(), active.dec()), no_setup),
        SERVER_TIMING: (after_request(True), after_request(False)),
    }


def _exporter_loop(app: Flask) -> Loop:
    """The exporter's before_request, after_request and teardown_request functions, on a
    request it has not seen: the marks it leaves on the request (``prom_*``) are removed
    first, or it would count each request once only."""
    def own(functions: list[Callable[..., Any]]) -> Callable[..., Any]:
        found = [f for f in functions if f.__module__.startswith("prometheus_flask_exporter")]
        if len(found) != 1:
            raise RuntimeError(f"expected one prometheus_flask_exporter hook, found {found}")
        return found[0]

    before, after = own(app.before_request_funcs[None]), own(app.after_request_funcs[None])
    teardown = own(app.teardown_request_funcs[None])
    marks = vars(request._get_current_object())  # type: ignore[attr-defined]

    def forget() -> Response:
        for key in [key for key in marks if key.startswith("prom_")]:
            del marks[key]
        return _new_response()

    def hooks() -> None:
        response = forget()
        before()
        after(response)
        teardown(None)

    return hooks, forget


def _in_request(app: Flask, measure: Callable[[Any], dict[str, float]]) -> dict[str, float]:
    """``measure(request)`` inside a pushed request for ``GET /``, after the benchmark's
    warm-up calls."""
    environ = inprocess.make_environ("/")
    for _ in range(inprocess.WARMUP_CALLS):
        inprocess.call(app, environ)
    with app.request_context(dict(environ)) as context:
        return measure(context.request)


def _reported_failures(lifecycle: RequestLifecycle) -> set[tuple[str, str]]:
    """What hookwatch reported on stderr instead of raising: a loop that failed so timed
    the failure, not the part."""
    reporters = (lifecycle.report_failure.__self__, lifecycle.request_log._sink._failures)
    return set().union(*(reporter._reported for reporter in reporters))


def run(calls: int = CALLS, repeats: int = REPEATS) -> dict[str, float]:
    """Part -> median µs per call in a loop: hookwatch (log lines to a file), then the
    exporter with its defaults. Raises ``RuntimeError`` if a hookwatch loop failed."""
    with tempfile.TemporaryDirectory(prefix="hookwatch-parts-") as tmp:
        log = Path(tmp, "requests.log")
        app = apps.hookwatch(str(log), CollectorRegistry())
        lifecycle = app.extensions["hookwatch"]

        def measure(req: Any) -> dict[str, float]:
            line = log.read_bytes().splitlines(keepends=True)[-1]  # the warm-up's last request
            loops = _hookwatch_loops(lifecycle, req, line)
            return {part: median_us(loop, calls, repeats) for part, loop in loops.items()}

        try:
            table = _in_request(app, measure)
        finally:
            apps.close_logs(app)
    failures = _reported_failures(lifecycle)
    if failures:
        raise RuntimeError(f"hookwatch reported failures while timed: {sorted(failures)}")
    exporter = apps.exporter(CollectorRegistry())
    table.update(_in_request(exporter, lambda _req: {
        EXPORTER_HOOKS: median_us(_exporter_loop(exporter), calls, repeats)}))
    return table


def markdown(table: dict[str, float]) -> str:
    """One row per part."""
    rows = [f"| {part} | {us:.1f} |" for part, us in table.items()]
    return "\n".join(["| timed alone in a loop | µs per call |", "|---|---:|", *rows])


def main(argv: list[str] | None = None) -> None:
    """Print the table (``--calls`` per loop, ``--repeats`` loops per part)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)
    print(markdown(run(args.calls, args.repeats)))


if __name__ == "__main__":
    main()
