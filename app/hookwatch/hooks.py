"""The request lifecycle, top to bottom, in the order Flask runs it.

:meth:`RequestLifecycle.register` puts hookwatch's functions on an app with Flask's public
hook API. Registered before the app's own hooks (``Hookwatch(app)`` right after
``Flask(...)``), ours run around everyone else's: Flask runs ``before_request`` functions
in registration order, ``after_request`` and ``teardown_request`` functions in reverse.

1. ``before_request``, first: the request id (an accepted ``X-Request-ID`` or a new one) on
   ``g`` and on every line logged until the request ends; the once-per-process warm-up
   (the stand-in for ``before_first_request``); then the clock and the in-flight gauge.
2. Other ``before_request`` functions, then the view, timed by a wrapper (Flask has no
   hook between the two).
3. Other ``after_request`` functions, then ours, last, on the final response:
   ``X-Request-ID`` and ``Server-Timing``, its status and size noted.
4. Other ``teardown_request`` functions, then ours, last: the request counted once (as 500
   if no response of the app's went out), one log line, the in-flight gauge lowered.

What registration order cannot guarantee comes from :class:`~.middleware.RecordingMiddleware`
on ``app.wsgi_app``: a teardown function that raises makes Flask skip the ones after it,
ours included; the middleware then records the request (as the 500 the server answers).

No function here raises: a failure in logging or metrics is reported on stderr, and the
response still goes out.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from typing import Any, Callable

import structlog
from flask import (
    Flask,
    Response,
    current_app,
    g,
    got_request_exception,
    has_app_context,
    request,
)
from werkzeug.exceptions import ServiceUnavailable

from .logs import REQUEST_ENVIRON_KEY, FailureReporter, current_request, failure_fields
from .metrics import Metrics, method_label
from .middleware import RecordingMiddleware
from .request_id import accept_request_id, new_request_id, parse_traceparent
from .warmup import Warmup

__all__ = ["RequestLifecycle", "RequestState"]

# Milliseconds, to the microsecond (W3C Server-Timing).
SERVER_TIMING = "before;dur=%.3f, view;dur=%.3f, after;dur=%.3f, total;dur=%.3f"


class RequestState:
    """What one request has recorded so far: in ``current_request`` while it runs, as
    ``request.hookwatch_state`` on the request object our ``before_request`` saw, and in its
    WSGI environ (``REQUEST_ENVIRON_KEY``) for the middleware."""

    def __init__(self, request_id: str, method: str, route: str, path: str,
                 environ: dict[str, Any]) -> None:
        self.request_id = request_id
        self.method = method  # the metric label: a standard method or _OTHER
        self.route = route
        self.path = path
        self.environ = environ
        self.trace_id: str | None = None
        self.started = time.perf_counter()  # restarted after the warm-up
        self.view_started: float | None = None
        self.view_done: float | None = None
        self.after_done: float | None = None
        self.finished: float | None = None  # when it was recorded
        self.status: int | None = None
        self.response_bytes: int | None = None
        self.error: BaseException | None = None  # the exception it failed with, if any
        self.active: Any = None  # the in-flight gauge child, once raised
        self.counted = True
        self.recorded = False
        self.token: Any = None  # resets current_request

    def phases(self, now: float) -> tuple[float, float, float]:
        """Seconds in before_request, the view and after_request, up to ``now``."""
        view_started = self.view_started if self.view_started is not None else now
        view_done = self.view_done if self.view_done is not None else view_started
        return view_started - self.started, view_done - view_started, now - view_done

    def server_timing(self, now: float) -> str:
        """The ``Server-Timing`` header's value: each phase and the total, up to ``now``."""
        before, view, after = self.phases(now)
        return SERVER_TIMING % (before * 1000, view * 1000, after * 1000,
                                (now - self.started) * 1000)


class RequestLifecycle:
    """hookwatch's hooks for one app, and what they share: its metrics, warm-up and options.

    ``app.extensions["hookwatch"]``. It holds no reference to the app (the app holds it), so
    an app is freed as soon as its last reference goes.
    """

    def __init__(self, metrics: Metrics, warmup: Warmup, *, server_timing: bool = True,
                 user_agent_max_chars: int = 200, exemplars: bool = True) -> None:
        self.metrics = metrics
        self.warmup = warmup
        self.server_timing = server_timing
        self.exemplars = exemplars
        self.user_agent_max_chars = user_agent_max_chars
        # Endpoints whose requests are not counted (watching must not move the needle)
        # and endpoints that answer even while the warm-up fails (probes, the scrape, the
        # dashboard), so a failing warm-up shows instead of taking the target down.
        self.uncounted_endpoints: set[str] = set()
        self.warmup_exempt_endpoints: set[str] = set()
        # The last counted requests, (time, id, method, route, status, seconds), for a
        # dashboard that sets a bounded deque here; else None.
        self.recent: Any = None
        self.log = structlog.get_logger()  # resolved at its first line: configure first
        self.report_failure = FailureReporter().report  # (where, error): once on stderr
        self._views_timed = False
        self._views_lock = threading.Lock()

    def register(self, app: Flask) -> None:
        """Put the hooks on ``app`` (public hook API) and the middleware on its WSGI app."""
        app.before_request(self.before_request)
        app.after_request(self.after_request)
        app.teardown_request(self.teardown_request)
        got_request_exception.connect(self.note_exception, app)  # held weakly by blinker
        app.wsgi_app = RecordingMiddleware(app, self)  # type: ignore[method-assign]

    # 1. before_request ----------------------------------------------------------------
    def before_request(self) -> Any:
        """Give the request its id and log context, warm up once per process, then start
        the request's clock and raise the in-flight gauge.

        If the warm-up failed, returns a 503 response: the request ends there, like any
        ``before_request`` function returning a value, and is still logged and counted
        (the endpoints in ``warmup_exempt_endpoints`` answer anyway). Never raises.
        """
        try:
            state = self._begin()
            self._time_views_once()
            warmup_error = self.warmup.ensure()  # its lines carry the request id
            state.started = time.perf_counter()  # the warm-up's time is not the request's
            if state.counted:
                active = self.metrics.active_for(state.method)
                active.inc()
                state.active = active  # only once raised: a failed inc is never undone
            if warmup_error is None:
                return None
            self.metrics.count_exception(state.route, type(warmup_error).__name__)
            if request.endpoint in self.warmup_exempt_endpoints:
                return None
            return _unavailable(warmup_error)
        except Exception as error:  # noqa: BLE001
            self.report_failure("before_request", error)
            return None

    def _begin(self) -> RequestState:
        """Accept or mint the request id, put it on ``g`` and make the request current."""
        environ = request.environ
        rule = request.url_rule
        state = RequestState(accept_request_id(environ.get("HTTP_X_REQUEST_ID")),
                             method_label(environ["REQUEST_METHOD"]),  # "get" is _OTHER
                             rule.rule if rule is not None else "", request.path, environ)
        state.trace_id = parse_traceparent(environ.get("HTTP_TRACEPARENT"))
        state.counted = rule is None or rule.endpoint not in self.uncounted_endpoints
        state.token = current_request.set(state)
        environ[REQUEST_ENVIRON_KEY] = request.hookwatch_state = state
        g.request_id = state.request_id
        return state

    def note_exception(self, _sender: Flask, exception: BaseException, **_: Any) -> None:
        """``got_request_exception``: Flask is handling an unhandled exception; the log
        set-up then renders Flask's own record of it without a second traceback."""
        state = current_request.get()
        if state is not None:
            state.error = exception

    # 2. the view ----------------------------------------------------------------------
    def _time_views_once(self) -> None:
        """Wrap every view function of the app, once, so its start and end are stamped.

        Done at the first request, when every route exists (Flask refuses new ones after).
        """
        if self._views_timed:
            return
        with self._views_lock:
            if not self._views_timed:
                views = current_app.view_functions
                for endpoint, view in list(views.items()):
                    views[endpoint] = _timed(view)
                self._views_timed = True

    # 3. after_request -----------------------------------------------------------------
    def after_request(self, response: Response) -> Response:
        """Add ``X-Request-ID`` (unless the app set one) and ``Server-Timing`` to the final
        response and note its status and size; returns ``response``. Runs after every other
        ``after_request`` function. Never raises."""
        try:
            state = current_request.get()
            if state is not None and not state.recorded:
                now = time.perf_counter()
                state.status = response.status_code
                state.response_bytes = _body_size(response)
                headers = response.headers
                headers.setdefault("X-Request-ID", state.request_id)
                if self.server_timing:
                    headers.add("Server-Timing", state.server_timing(now))
                state.after_done = now
        except Exception as error:  # noqa: BLE001
            self.report_failure("after_request", error)
        return response

    # 4. teardown_request --------------------------------------------------------------
    def teardown_request(self, error: BaseException | None) -> None:
        """Count the request once and write its one line, then end it. Runs after every
        other ``teardown_request`` function. Never raises.

        ``error`` is the exception that escaped the view or a hook, if any. The request's
        context pushed again (a copy in a thread, or when a body streamed with
        ``stream_with_context`` ends) only has its failure logged; a context pushed without
        dispatching (``test_request_context``, a shell) is left alone.
        """
        try:
            state = current_request.get()
            ours = getattr(request, "hookwatch_state", None)
            if state is not None and state is ours:
                self.finish(state, error)
            elif ours is not None:
                self._late_failure(ours, error)
            elif error is not None and REQUEST_ENVIRON_KEY not in request.environ:
                self.finish(self._unseen(request.environ), error)  # failed before ours ran
        except Exception as failure:  # noqa: BLE001
            self.report_failure("teardown_request", failure)

    def finish(self, state: RequestState, error: BaseException | None,
               server_error: bool = False) -> None:
        """Record the request once: lower the gauge, count it (as 500 if no response of the
        app's went out, or ``server_error``), write its line, end its log context."""
        if state.recorded:
            return
        state.recorded = True
        now = state.finished = time.perf_counter()
        if error is not None:
            state.error = error
        if state.status is None or server_error:
            state.status = 500
        done = state.after_done if state.after_done is not None else now
        try:
            self._count(state, done - state.started, now, error)
        except Exception as failure:  # noqa: BLE001 - the line must still be written
            self.report_failure("metrics", failure)
        try:
            self._log_line(state, done - state.started, error)
        except Exception as failure:  # noqa: BLE001
            self.report_failure("request log line", failure)
        finally:
            _end(state)

    def _count(self, state: RequestState, seconds: float, now: float,
               error: BaseException | None) -> None:
        if state.active is not None:
            state.active.dec()
        if not state.counted:
            return
        exemplar = None
        if self.exemplars:
            exemplar = {"request_id": state.request_id}
            if state.trace_id is not None:
                exemplar["trace_id"] = state.trace_id
        phases: tuple[float, ...] = ()
        if state.after_done is not None:
            phases = (*state.phases(state.after_done), now - state.after_done)
        self.metrics.record_request(
            state.method, state.route, state.status or 500, seconds,
            _request_body_size(state.environ), state.response_bytes, exemplar, phases)
        if error is not None:
            self.metrics.count_exception(state.route, type(error).__name__)
        if self.recent is not None:
            self.recent.append((time.time(), state.request_id, state.method, state.route,
                                state.status, seconds))

    def _log_line(self, state: RequestState, seconds: float,
                  error: BaseException | None) -> None:
        environ = state.environ
        fields = _line_fields(state)
        fields.update(
            method=environ["REQUEST_METHOD"],
            path=state.path,
            status=state.status,
            duration_ms=round(seconds * 1000, 3),
            response_bytes=state.response_bytes,
            client_ip=environ.get("REMOTE_ADDR"),
            user_agent=environ.get("HTTP_USER_AGENT", "")[: self.user_agent_max_chars],
        )
        status = state.status or 500
        if error is not None:
            self.log.error("request_failed", **failure_fields(error), **fields)
        elif status >= 500:
            self.log.error("request_finished", **fields)
        elif status >= 400:
            self.log.warning("request_finished", **fields)
        else:
            self.log.info("request_finished", **fields)

    def _late_failure(self, state: RequestState, error: BaseException | None) -> None:
        """An exception raised where the request's context was pushed again after (or
        beside) the request: counted and logged with the request's id. A client that went
        away mid-stream (``GeneratorExit``) is not a failure."""
        if not isinstance(error, Exception):
            return
        self.metrics.count_exception(state.route, type(error).__name__)
        event = "response_stream_failed" if state.recorded else "request_context_failed"
        self.log.error(event, **failure_fields(error), **_line_fields(state))

    def _unseen(self, environ: dict[str, Any]) -> RequestState:
        """A state for a request that failed before ``before_request`` ran (its context
        could not be pushed whole): an id of its own, no route; called in its context."""
        state = RequestState(new_request_id(), method_label(environ.get("REQUEST_METHOD", "")),
                             "", request.path, environ)
        environ[REQUEST_ENVIRON_KEY] = state
        return state


def _line_fields(state: RequestState) -> dict[str, Any]:
    """The fields every line hookwatch writes about a request starts with."""
    fields: dict[str, Any] = {"logger": "hookwatch", "request_id": state.request_id,
                              "route": state.route}
    if state.trace_id is not None:
        fields["trace_id"] = state.trace_id
    return fields


def _timed(view: Callable[..., Any]) -> Callable[..., Any]:
    """``view``, stamping its start and end on the current request's state."""
    if getattr(view, "hookwatch_timed", False):
        return view
    if inspect.iscoroutinefunction(view):
        @functools.wraps(view)
        async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
            state = _stamp_view_start()
            try:
                return await view(*args, **kwargs)
            finally:
                _stamp_view_end(state)
        timed: Any = timed_coroutine
    else:
        @functools.wraps(view)
        def timed(*args: Any, **kwargs: Any) -> Any:
            state = _stamp_view_start()
            try:
                return view(*args, **kwargs)
            finally:
                _stamp_view_end(state)
    timed.hookwatch_timed = True
    return timed


def _stamp_view_start() -> RequestState | None:
    state = current_request.get()
    if state is not None:
        state.view_started = time.perf_counter()
    return state


def _stamp_view_end(state: RequestState | None) -> None:
    if state is not None:
        state.view_done = time.perf_counter()


def _unavailable(error: BaseException) -> Any:
    """The 503 for a failed warm-up, through the app's error handlers if they can."""
    unavailable = ServiceUnavailable(
        f"The application is warming up and its warm-up failed ({type(error).__name__});"
        " retry shortly."
    )
    try:
        return current_app.handle_http_exception(unavailable)
    except Exception:  # noqa: BLE001 - the error page itself may be what the warm-up lacks
        return unavailable.get_response()


def _end(state: RequestState) -> None:
    """Make current again the request that was current before this one (usually none; an
    outer request's when a view made a request of its own, whose id then goes back on the
    ``g`` they share) and clear the fields the view bound in ``structlog.contextvars``."""
    structlog.contextvars.clear_contextvars()
    if state.token is None:
        return
    try:
        current_request.reset(state.token)
    except ValueError:  # ended in another context than it began in
        current_request.set(None)
    outer = current_request.get()
    if outer is not None and has_app_context():
        g.request_id = outer.request_id


def _body_size(response: Response) -> int | None:
    """The response body's size in bytes: its Content-Length (Werkzeug sets it for a body
    given as text or bytes; ``send_file`` declares one), else, for a body in memory, its
    encoded length; ``None`` for a streamed body without one, which is never read here
    (that would buffer it whole)."""
    size = response.content_length
    if size is None and response.is_sequence:
        size = response.calculate_content_length()
    return size


def _request_body_size(environ: dict[str, Any]) -> int:
    """The declared request body size (0 without a valid Content-Length)."""
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0

