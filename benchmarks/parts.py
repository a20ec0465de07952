"""hookwatch's per-request work, and prometheus_flask_exporter's, timed alone in a tight loop:
what the breakdown's parts (:mod:`benchmarks.ablate`, measured inside whole requests) cost
when their code and data stay in the CPU's caches.

Inside a request the same work runs between about a million instructions of Flask,
werkzeug and Jinja; the difference between the two tables is what that adds to each.

``python -m benchmarks.parts [--calls N] [--repeats R]`` prints one row per part: the
median µs per call over the repeats, less the set-up each loop needs (a fresh response).
"""

from __future__ import annotations

import argparse
import contextvars
import os
import statistics
import tempfile
import time
from typing import Any, Callable

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry

from app.hooks import RequestLifecycle, RequestState
from app.logs import current_request

from . import apps, inprocess

__all__ = ["EXPORTER_HOOKS", "HOOKWATCH_STEPS", "main", "markdown", "run"]

HOOKWATCH_STEPS = "hookwatch: its four steps, whole"
EXPORTER_HOOKS = "prometheus_flask_exporter: its three hooks, whole"
Loop = tuple[Callable[[], Any], Callable[[], Any] | None]  # (timed, set-up alone or None)


def _new_response() -> Response:
    return Response(b"<h1>Hello</h1>")


def _median_us(loop: Loop, calls: int, repeats: int) -> float:
    """Median over ``repeats`` of µs per call of the timed action, less its set-up's."""
    def per_call(function: Callable[[], Any]) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            function()
        return (time.perf_counter() - started) / calls * 1e6

    action, setup = loop
    return statistics.median(per_call(action) - (per_call(setup) if setup else 0.0)
                             for _ in range(repeats))


def _hookwatch_loops(lifecycle: RequestLifecycle, req: Any) -> dict[str, Loop]:
    """Our four steps as Flask calls them, then the breakdown's parts one by one."""
    state = RequestState("0" * 31 + "1", "GET", "/")
    state.started = state.before_done = state.view_done = time.perf_counter()
    state.status, state.response_bytes, state.phase_seconds = 200, 1000, (1e-5, 1e-4, 1e-5)
    active = lifecycle.metrics.active_for("GET")
    line = b'{"event":"request_finished","request_id":"' + state.request_id.encode() + b'"}\n'

    def four_steps() -> None:
        lifecycle.before_request()
        RequestLifecycle.mark("before_done")
        RequestLifecycle.mark("view_done")
        lifecycle.after_request(_new_response())
        lifecycle.teardown_request(None, False)

    def after_request(server_timing: bool) -> Callable[[], Any]:
        def finish() -> None:
            lifecycle.server_timing = server_timing
            current_request.set(state)  # the request our after_request finishes
            lifecycle.after_request(_new_response())
        return finish

    return {
        HOOKWATCH_STEPS: (four_steps, _new_response),
        "the request line (its fields, JSON, write)": (
            lambda: lifecycle._log(state, req, 1.5e-4, None), None),
        "… of which the write (lock, flush, system call)": (
            lambda: lifecycle.request_log._sink.write_line(line), None),
        "the histograms (7 observations)": (
            lambda: lifecycle._record(state, req, 1.5e-4, time.perf_counter(), None), None),
        "the in-flight gauge (up and down)": (lambda: (active.inc(), active.dec()), None),
        "the Server-Timing header": (after_request(True), after_request(False)),
    }


def _exporter_loop(app: Flask) -> Loop:
    """The exporter's before_request, after_request and teardown_request functions, on a
    request it has not seen: the marks it leaves on the request (``prom_*``) are removed
    first, or it would count each request once only."""
    def own(functions: list[Callable[..., Any]]) -> list[Callable[..., Any]]:
        return [f for f in functions if f.__module__ == "prometheus_flask_exporter"]

    before, after = own(app.before_request_funcs[None]), own(app.after_request_funcs[None])
    teardown = own(app.teardown_request_funcs[None])
    marks = vars(request._get_current_object())  # type: ignore[attr-defined]

    def forget() -> Response:
        for key in [key for key in marks if key.startswith("prom_")]:
            del marks[key]
        return _new_response()

    def hooks() -> None:
        response = forget()
        for function in before:
            function()
        for function in after:
            response = function(response)
        for function in teardown:
            function(None)

    return hooks, forget


def _in_request(app: Flask, measure: Callable[[Any], dict[str, float]]) -> dict[str, float]:
    """``measure(request)`` inside a pushed request for ``GET /``, after 200 real requests
    (the warm-up run, templates compiled, series created), in a copy of the current context:
    the request state the loops make current is gone afterwards."""
    environ = inprocess.make_environ("/")
    for _ in range(200):
        inprocess.call(app, environ)

    def measure_in_request() -> dict[str, float]:
        with app.request_context(dict(environ)) as context:
            return measure(context.request)

    return contextvars.copy_context().run(measure_in_request)


def run(calls: int, repeats: int) -> dict[str, float]:
    """Part -> median µs per call in a loop: hookwatch (log lines to a file), then the
    exporter with its defaults."""
    with tempfile.TemporaryDirectory(prefix="hookwatch-parts-") as tmp:
        app = apps.hookwatch(os.path.join(tmp, "requests.log"), CollectorRegistry())
        try:
            table = _in_request(app, lambda req: {
                part: _median_us(loop, calls, repeats)
                for part, loop in _hookwatch_loops(app.extensions["hookwatch"], req).items()})
        finally:
            apps.close_logs(app)
    exporter = apps.exporter(CollectorRegistry())
    table.update(_in_request(exporter, lambda _req: {
        EXPORTER_HOOKS: _median_us(_exporter_loop(exporter), calls, repeats)}))
    return table


def markdown(table: dict[str, float]) -> str:
    """One row per part."""
    rows = [f"| {part} | {us:.1f} |" for part, us in table.items()]
    return "\n".join(["| timed alone in a loop | µs per call |", "|---|---:|", *rows])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(markdown(run(args.calls, args.repeats)))


if __name__ == "__main__":
    main()
