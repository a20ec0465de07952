"""How much of hookwatch's added time its code's shape costs: full hookwatch against a copy
whose three steps are flattened, side by side with bare and the exporter in one run.

The flattened steps make the same per-request outputs for the benchmark's requests (the
id on ``g`` and in the log context, the clock, the in-flight gauge, ``X-Request-ID`` and
``Server-Timing``, the seven observations with their exemplar, the same JSON line written
the same way) in one function each, with none of the branches for rare cases (a failed
warm-up, an exception, a nested or streamed request, a line that is not ASCII, LOG_LEVEL).
They are for measuring only: a floor for what restructuring hookwatch's code could save.
(They do not hand a waiting batch of observations to the response's close, as hookwatch's
``after_request`` does, so the copy observes 1,024 at a time in a teardown: the same work,
inside the same timed calls.)
``python -m benchmarks.flat`` prints the table.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import orjson
from flask import Response, g
from flask.globals import request_ctx
from prometheus_client import CollectorRegistry

from app.hooks import _CONTEXT_STATE, _SERVER_TIMING, _body_size, _current_state, RequestState
from app.logs import REQUEST_ENVIRON_KEY, _ascii_json, _timestamps
from app.metrics import method_label
from app.request_id import new_request_id

from . import apps, inprocess

__all__ = ["FLAT", "flatten", "run"]

FLAT = "hookwatch, its steps flattened"


def flatten(app: Any) -> Any:
    """Replace the hookwatch ``app``'s three steps by flat ones (see the module docstring)."""
    lifecycle = app.extensions["hookwatch"]
    metrics, warmup, sink = lifecycle.metrics, lifecycle.warmup, lifecycle.request_log._sink

    def before_request() -> None:
        context = request_ctx._get_current_object()  # type: ignore[attr-defined]
        req = context.request
        environ = req.environ
        state = RequestState(new_request_id(), method_label(environ["REQUEST_METHOD"]),
                             req.url_rule.rule)
        state.token = _current_state.set(state)
        environ[REQUEST_ENVIRON_KEY] = state
        g._get_current_object().request_id = state.request_id
        setattr(context, _CONTEXT_STATE, state)
        if not warmup.done:
            warmup.ensure()
        state.started = time.perf_counter()
        state.active = metrics.active_for(state.method)
        state.active.inc()

    def after_request(response: Response) -> Response:
        state = _current_state.get()
        now = state.after_done = time.perf_counter()
        state.status = response.status_code
        state.response_bytes = _body_size(response)
        headers = response.headers
        headers.add("X-Request-ID", state.request_id)
        started, before, view = state.started, state.before_done, state.view_done
        state.phase_seconds = (before - started, view - before, now - view)
        headers.add("Server-Timing", _SERVER_TIMING % ((before - started) * 1000,
                    (view - before) * 1000, (now - view) * 1000, (now - started) * 1000))
        return response

    def teardown_request(_error: BaseException | None, _teardown_failed: bool) -> None:
        context = request_ctx._get_current_object()  # type: ignore[attr-defined]
        state, req = getattr(context, _CONTEXT_STATE), context.request
        now = time.perf_counter()
        seconds = state.after_done - state.started
        state.active.dec()
        metrics.record_request(state.method, state.route, state.status, seconds, 0,
                               state.response_bytes, {"request_id": state.request_id},
                               state.phase_seconds, now - state.after_done)
        line = _ascii_json({
            "request_id": state.request_id, "method": req.method, "path": req.path,
            "route": state.route, "status": state.status, "duration_ms": round(seconds * 1000, 3),
            "response_bytes": state.response_bytes, "client_ip": req.remote_addr,
            "user_agent": req.environ.get("HTTP_USER_AGENT", "")[:lifecycle.user_agent_max],
            "event": "request_finished", "level": "info", "logger": "hookwatch",
            "timestamp": _timestamps.format(time.time())}, option=orjson.OPT_APPEND_NEWLINE)
        with sink._lock:
            sink.stream.flush()
            os.write(sink._fd, line)
        state.ended = True
        _current_state.reset(state.token)

    lifecycle.before_request = before_request
    lifecycle.after_request = after_request
    lifecycle.teardown_request = teardown_request
    return app


def run(calls: int, repeats: int) -> tuple[dict[str, Any], list[str]]:
    """The in-process table for bare, the exporter, hookwatch and its flattened copy, and
    the requests that either hookwatch did not count or log once."""
    registries = {name: CollectorRegistry() for name in ("exporter", "hookwatch", FLAT)}
    with tempfile.TemporaryDirectory(prefix="hookwatch-flat-") as tmp:
        logs = {name: os.path.join(tmp, f"{index}.log") for index, name in enumerate(registries)}
        variants = {"bare": apps.bare(), "exporter": apps.exporter(registries["exporter"]),
                    "hookwatch": apps.hookwatch(logs["hookwatch"], registries["hookwatch"]),
                    FLAT: flatten(apps.hookwatch(logs[FLAT], registries[FLAT]))}
        try:
            cells, sent = inprocess.run(variants, calls, repeats)
        finally:
            apps.close_logs(*variants.values())
        problems = inprocess.miscounted("exporter", "exporter", registries["exporter"], sent)
        for name in ("hookwatch", FLAT):
            problems += inprocess.miscounted("hookwatch", name, registries[name], sent)
            problems += inprocess.unlogged(name, inprocess.count_request_lines(logs[name]), sent)
    return inprocess.summarise(cells, sent), problems


if __name__ == "__main__":
    from .__main__ import inprocess_markdown

    table, problems = run(inprocess.CALLS, inprocess.REPEATS)
    print(inprocess_markdown(table))
    print(*problems, sep="\n")
