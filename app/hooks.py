"""The request lifecycle, in the order Flask runs it.

:class:`HookwatchFlask` calls our four steps at fixed points, so their place never depends
on who registered a hook first:

1. ``before_request``, first of all (before URL value preprocessors and every other
   ``before_request`` function): accept or mint the request id and make the request
   current, so every line logged until it ends carries its id; warm up once per process;
   then start the clock and raise the in-flight gauge.
2. Other ``before_request`` functions, then the view; Flask has no hook between the two, so
   the ends of ``preprocess_request`` and ``dispatch_request`` are stamped (``_stamp``).
3. Other ``after_request`` functions and the session save, then ours, last, on the final
   response: ``X-Request-ID``, ``Server-Timing``, its status and size noted.
4. Other ``teardown_request`` functions, then ours, always, even if one of them raised (Flask
   skips the rest when a teardown raises): the request counted once (as 500 if step 3 never
   ran or a teardown raised), one log line, the in-flight gauge lowered, the request no
   longer current and the fields bound in its log context cleared.
   A body streamed with ``stream_with_context`` pops the context again when it ends: then
   only an exception raised while streaming is logged (``response_stream_failed``).

No step of ours raises: a failure in logging or metrics is reported on stderr and the
response still goes out.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from contextvars import ContextVar, Token
from typing import Any

import structlog
from flask import Flask, Response, g
from flask.globals import request_ctx
from werkzeug.exceptions import ServiceUnavailable

from .logs import REQUEST_ENVIRON_KEY, FailureReporter, RequestLog, current_request
from .metrics import Metrics, method_label
from .request_id import accept_request_id, new_request_id, parse_traceparent
from .warmup import Warmup

__all__ = ["HookwatchFlask", "RequestLifecycle", "RequestState", "init_app"]

_HANDLING_ERROR = "hookwatch_handling_error"  # set on flask.g while Flask makes a 500 page

# The current request's state, in logs.current_request (every line logged meanwhile
# carries its ids), set by our first step and reset by our last. A ContextVar, like Flask's
# own request context: read a few times per request, it costs a fraction of a lookup on
# flask.g through its proxy.
_current_state: ContextVar[RequestState | None] = current_request
# The same state as an attribute of the request's RequestContext: teardown tells by it
# whether the context being popped is the one our first step saw (a copied context, or one
# built on the same environ, is another object) and whether it was popped before, as
# stream_with_context pops it again when the body ends.
_CONTEXT_STATE = "hookwatch_state"


# Milliseconds, to the microsecond.
_SERVER_TIMING = "before;dur=%.3f, view;dur=%.3f, after;dur=%.3f, total;dur=%.3f"


def _set_request_id(state: RequestState) -> None:
    """Put the request's id on ``g``."""
    # On the object behind the proxy: ``g.request_id = `` makes several calls to find it.
    g._get_current_object().request_id = state.request_id


def _end_request(state: RequestState) -> None:
    """Clear the log context (what ``structlog.contextvars`` holds: fields the view bound)
    and make current again the state that was current before the request: usually none; an
    outer request's when a view made a request of its own (Flask shares ``g`` between the
    two), whose id then goes back on ``g`` (fields the outer view bound are not restored)."""
    # clear_contextvars walks every context variable (about 2 us per request). structlog
    # registers each one bind_contextvars makes; while none was ever made in the process,
    # the walk is skipped. The registry is private to structlog: without it, every request
    # clears (tests/test_hooks.py covers both).
    bound_ever = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
    if not isinstance(bound_ever, dict) or bound_ever:
        structlog.contextvars.clear_contextvars()
    if state.token is not None:
        try:
            _current_state.reset(state.token)
        except (ValueError, RuntimeError):  # torn down in another context than it began in
            _current_state.set(None)
    outer = _current_state.get()
    if outer is not None:
        _set_request_id(outer)


def _body_size(response: Response) -> int | None:
    """The response body's size in bytes; for a streamed body, which is never read here
    (calculate_content_length() would buffer it whole), its declared Content-Length if any
    (send_file declares one), else ``None``."""
    body = response.response
    if type(body) is list and len(body) == 1 and type(body[0]) is bytes:
        # What Flask makes of a view's value: calculate_content_length()'s answer for it,
        # for less work (a response class overriding that method is not asked).
        return len(body[0])
    if response.is_sequence:
        return response.calculate_content_length()
    return response.content_length


def _stamp(phase_end: str) -> None:
    """Stamp the end of a phase (``before_done``, ``view_done``) on the current request's
    state, if it has one."""
    state = _current_state.get()
    if state is not None:
        setattr(state, phase_end, time.perf_counter())


class RequestState:
    """What one request has recorded so far; current in ``_current_state`` while it runs.

    The fields a request may never set have their defaults on the class, so a request
    writes only what it has (a few attribute writes less per request)."""

    started: float  # set when the clock starts, after the warm-up
    trace_id: str | None = None
    before_done: float | None = None
    view_done: float | None = None
    after_done: float | None = None
    # before_request, view and after_request seconds, once our after_request ran
    phase_seconds: tuple[float, float, float] | None = None
    status: int | None = None
    response_bytes: int | None = None
    active: Any = None
    counted = True
    token: Token[RequestState | None] | None = None  # to reset _current_state
    ended = False  # our teardown has run

    def __init__(self, request_id: str, method: str, route: str) -> None:
        self.request_id = request_id
        self.method = method
        self.route = route

    def phases(self, now: float) -> tuple[float, float, float]:
        """Seconds spent in before_request, view and after_request, up to ``now``."""
        before_done = self.before_done if self.before_done is not None else now
        view_done = self.view_done if self.view_done is not None else before_done
        return before_done - self.started, view_done - before_done, now - view_done


class RequestLifecycle:
    """Our hooks, bound to one app's metrics, warm-up and logger."""

    def __init__(self, app: Flask, metrics: Metrics, warmup: Warmup,
                 request_log: RequestLog) -> None:
        self.app = app
        self.metrics = metrics
        self.warmup = warmup
        self.request_log = request_log
        self.server_timing = bool(app.config.get("SERVER_TIMING", True))
        self.user_agent_max = int(app.config.get("USER_AGENT_MAX_CHARS", 200))
        self.exemplars = not metrics.multiprocess  # prometheus-client keeps none in files
        # Watching must not move the needle: the scrape is not counted, nor any endpoint a
        # blueprint adds here (the dashboard does).
        self.uncounted_endpoints = {"ops.metrics"}
        # Endpoints that answer even while the warm-up fails: liveness, readiness (which says
        # so itself), the scrape and what a blueprint adds, so a failing warm-up shows on the
        # dashboards instead of taking the target down.
        self.warmup_exempt_endpoints = {"ops.healthz", "ops.readyz", "ops.metrics"}
        # The last counted requests, (time, id, method, route, status, seconds), for the
        # dashboard, which creates the bounded ring when it is registered; else None.
        self.recent: deque[tuple[float, str, str, str, int, float]] | None = None
        self.report_failure = FailureReporter().report  # (where, error): once on stderr

    # 1. before_request ---------------------------------------------------------------------
    def before_request(self) -> Response | None:
        """Give the request its id and log context, warm up once per process, then start the
        request's clock and raise the in-flight gauge.

        If the warm-up failed, returns a 503 response: the request ends there, like a
        ``before_request`` function returning a value, and is still logged and counted.
        The endpoints in ``warmup_exempt_endpoints`` answer anyway. Never raises.
        """
        try:
            context = request_ctx._get_current_object()  # type: ignore[attr-defined]
            req = context.request
            state = self._identify(req)
            setattr(context, _CONTEXT_STATE, state)
            warmup = self.warmup
            warmup_error = None if warmup.done else warmup.ensure()  # lines carry the id
            # The clock starts after the warm-up, whose time is not the request's.
            state.started = time.perf_counter()
            if state.counted:
                active = self.metrics.active_for(state.method)
                active.inc()
                state.active = active  # only once raised, so a failed inc is never undone
            if warmup_error is None:
                return None
            self.metrics.count_exception(state.route, type(warmup_error).__name__)
            if req.endpoint in self.warmup_exempt_endpoints:
                return None
            return self._unavailable(warmup_error)
        except Exception as error:  # noqa: BLE001
            self.report_failure("before_request", error)
            return None

    def _identify(self, req: Any) -> RequestState:
        """Accept or mint the request id, put it on ``g`` and make the new state current
        (which puts the ids on every line logged until the request ends)."""
        # Read from the WSGI environ: the same values as req.headers, for less work.
        environ = req.environ
        incoming = environ.get("HTTP_X_REQUEST_ID")
        rule = req.url_rule
        state = RequestState(
            accept_request_id(incoming) if incoming else new_request_id(),
            method_label(environ["REQUEST_METHOD"]),  # case-sensitive: "get" is _OTHER
            rule.rule if rule is not None else "",
        )
        traceparent = environ.get("HTTP_TRACEPARENT")
        if traceparent:
            state.trace_id = parse_traceparent(traceparent)
        state.token = _current_state.set(state)
        environ[REQUEST_ENVIRON_KEY] = state
        _set_request_id(state)
        if rule is not None and rule.endpoint in self.uncounted_endpoints:
            state.counted = False
        return state

    def _unavailable(self, error: BaseException) -> Any:
        unavailable = ServiceUnavailable(
            f"The application is warming up and its warm-up failed ({type(error).__name__});"
            " retry shortly."
        )
        try:
            return self.app.handle_http_exception(unavailable)
        except Exception:  # noqa: BLE001 - the error page itself may be what the warm-up lacks
            return unavailable.get_response()

    # 3. after_request ----------------------------------------------------------------------
    def after_request(self, response: Response) -> Response:
        """Add ``X-Request-ID`` and ``Server-Timing`` to the final response and note its
        status and size; returns ``response``. Runs after every ``after_request`` function
        and the session save. Never raises."""
        try:
            state = _current_state.get()
            if state is not None:
                self._finish_response(state, response)
        except Exception as error:  # noqa: BLE001
            self.report_failure("after_request", error)
        return response

    def _finish_response(self, state: RequestState, response: Response) -> None:
        now = time.perf_counter()
        state.status = response.status_code
        state.response_bytes = _body_size(response)
        # add(), not item assignment: these headers are ours alone, and assignment first
        # scans every header to remove an earlier one (three times the cost).
        headers = response.headers
        headers.add("X-Request-ID", state.request_id)
        before, view, after = state.phase_seconds = state.phases(now)
        if self.server_timing:
            # printf-style: 1.9 us against 2.6 for an f-string's four format specs, in a
            # loop on the eighth round's VM (docs/performance.md).
            headers.add("Server-Timing", _SERVER_TIMING % (
                before * 1000, view * 1000, after * 1000, (now - state.started) * 1000))
        state.after_done = now
        if self.metrics.batch_waiting():
            # Observed when the server closes this response, after its body went out: out
            # of its client's time to an answer (the worker still spends it).
            response.call_on_close(self.metrics.observe_queued)

    # 4. teardown_request -------------------------------------------------------------------
    def teardown_request(self, error: BaseException | None, teardown_failed: bool) -> None:
        """Count the request once and write its one log line. Runs after every
        ``teardown_request`` function. Never raises.

        ``error`` is the exception that escaped the view or a hook, if any;
        ``teardown_failed`` says it escaped a teardown function, after our ``after_request``
        saw the response: the server then answers 500, and so does the record.
        """
        context = request_ctx._get_current_object()  # type: ignore[attr-defined]
        req = context.request
        state = getattr(context, _CONTEXT_STATE, None)
        if state is not None and state.ended:
            self._stream_ended(state, error)
            return
        try:
            if state is None:
                # Not a context our first step saw: one pushed without dispatching (a shell,
                # a CLI, a test_request_context or a copied context in a view) is left alone.
                if error is None:
                    return
                # Pushing the request context failed before our first step ran, or a
                # function run in a copied context raised: a line of its own, not counted.
                state = RequestState(new_request_id(), method_label(req.environ["REQUEST_METHOD"]),
                                     "")
                state.started = time.perf_counter()
                state.counted = False
            self._teardown(state, req, error, teardown_failed)
        except Exception as failure:  # noqa: BLE001
            self.report_failure("teardown_request", failure)
        finally:
            if state is not None:
                state.ended = True
                _end_request(state)

    def _stream_ended(self, state: RequestState, error: BaseException | None) -> None:
        """The request's context popped a second time: its body, streamed with
        ``stream_with_context``, has ended. The request's line is written already; an
        exception raised while streaming is counted and logged with the request's id. A
        client that went away (``GeneratorExit``) is not a failure."""
        if not isinstance(error, Exception):
            return
        try:
            self.metrics.count_exception(state.route, type(error).__name__)
            fields: dict[str, Any] = {"request_id": state.request_id, "route": state.route,
                                      "error_type": type(error).__name__, "exc_info": error}
            if state.trace_id is not None:
                fields["trace_id"] = state.trace_id
            self.request_log.write("error", "response_stream_failed", fields)
        except Exception as failure:  # noqa: BLE001
            self.report_failure("teardown_request (stream)", failure)

    def _teardown(self, state: RequestState, req: Any, error: BaseException | None,
                  teardown_failed: bool) -> None:
        """Count the request, once (duration, body sizes, phases, the exception if any),
        lower the in-flight gauge, then write its line whatever the metrics did."""
        now = time.perf_counter()
        if state.status is None or teardown_failed:
            state.status = 500  # no response of the app's went out: the server answers 500
        # The request's time is up to the response; the teardown phase is timed on its own.
        done = state.after_done if state.after_done is not None else now
        seconds = done - state.started
        try:
            if state.active is not None:
                state.active.dec()
            if state.counted:
                exemplar = None
                if self.exemplars:
                    exemplar = {"request_id": state.request_id}
                    if state.trace_id is not None:
                        exemplar["trace_id"] = state.trace_id
                finished = (state.after_done or state.view_done or state.before_done
                            or state.started)
                self.metrics.record_request(
                    state.method, state.route, state.status, seconds,
                    # No Content-Length: no body, or a chunked one, which werkzeug sizes 0 too.
                    (req.content_length or 0) if req.environ.get("CONTENT_LENGTH") else 0,
                    state.response_bytes, exemplar, state.phase_seconds, now - finished,
                )
                if error is not None:
                    self.metrics.count_exception(state.route, type(error).__name__)
        finally:
            # Metrics trouble (reported by teardown_request) must not cost the request its line.
            if state.counted and self.recent is not None:
                self.recent.append((time.time(), state.request_id, state.method, state.route,
                                    state.status, seconds))
            self._log(state, req, seconds, error)

    def _log(self, state: RequestState, req: Any, duration: float,
             error: BaseException | None) -> None:
        fields: dict[str, Any] = {
            "request_id": state.request_id,
            "method": req.method,
            "path": req.path,
            "route": state.route,
            "status": state.status,
            "duration_ms": round(duration * 1000, 3),
            "response_bytes": state.response_bytes,
            "client_ip": req.remote_addr,
            "user_agent": req.environ.get("HTTP_USER_AGENT", "")[: self.user_agent_max],
        }
        if state.trace_id is not None:
            fields["trace_id"] = state.trace_id
        if error is not None:
            fields["error_type"] = type(error).__name__
            fields["exc_info"] = error
            self.request_log.write("error", "request_failed", fields)
        elif state.status >= 500:
            self.request_log.write("error", "request_finished", fields)
        elif state.status >= 400:
            self.request_log.write("warning", "request_finished", fields)
        else:
            self.request_log.write("info", "request_finished", fields)


class HookwatchFlask(Flask):
    """Flask that runs hookwatch's steps first and last, and stamps the view's start and end."""

    def preprocess_request(self) -> Any:
        """Run our ``before_request`` first of all, then Flask's URL value preprocessors and
        ``before_request`` functions unless ours answered (a failed warm-up's 503). Stamps
        the end of the before phase however it ends."""
        early_response = self.extensions["hookwatch"].before_request()
        try:
            if early_response is not None:
                return early_response
            return super().preprocess_request()
        finally:
            _stamp("before_done")

    def dispatch_request(self) -> Any:
        """Run the view; stamp its end, whether it returned or raised."""
        try:
            return super().dispatch_request()
        finally:
            _stamp("view_done")

    def process_response(self, response: Response) -> Response:
        """Run the ``after_request`` functions and save the session, then our
        ``after_request`` last, on the response that goes out.

        If an ``after_request`` function raises, Flask makes a 500 page and comes back here;
        if one raises again on that page, it is reported on stderr instead of a second line.
        """
        lifecycle = self.extensions["hookwatch"]
        try:
            response = super().process_response(response)
        except Exception as error:
            if not g.get(_HANDLING_ERROR):
                raise  # Flask turns it into a 500 page and comes back here with that
            # An after_request failed again on the 500 page: Flask would write a second line
            # for this request; its request_failed line already tells the first failure.
            lifecycle.report_failure("after_request (on the error page)", error)
        return lifecycle.after_request(response)

    def handle_exception(self, e: Exception) -> Any:
        """Flask's unhandled-exception path, noted on ``g`` for :meth:`process_response`."""
        g.setdefault(_HANDLING_ERROR, True)
        return super().handle_exception(e)

    def do_teardown_request(self, *args: Any) -> None:
        """Run the ``teardown_request`` functions, then ours, always: Flask skips the rest
        of them when one raises, and ours must record the 500 the server then answers."""
        exc = args[0] if args else sys.exc_info()[1]
        failure: BaseException | None = None
        try:
            super().do_teardown_request(*args)
        except Exception as error:
            failure = error
            raise
        finally:
            self.extensions["hookwatch"].teardown_request(exc or failure, failure is not None)

    def log_exception(self, exc_info: Any) -> None:
        """Do nothing: our ``request_failed`` line already carries the traceback."""


def init_app(app: HookwatchFlask, metrics: Metrics, warmup: Warmup,
             request_log: RequestLog) -> RequestLifecycle:
    """Attach the lifecycle to ``app`` as ``app.extensions["hookwatch"]``."""
    if not isinstance(app, HookwatchFlask):
        raise TypeError("hookwatch needs the app to be a HookwatchFlask (see create_app)")
    lifecycle = RequestLifecycle(app, metrics, warmup, request_log)
    metrics.report_failure = lifecycle.report_failure  # for requests observed in a batch
    app.extensions["hookwatch"] = lifecycle
    return lifecycle
