"""The request lifecycle: hook order, exact timings, the 500 path, warm-up, ids, log context."""

from __future__ import annotations

import contextvars
import logging
import threading
import weakref
from typing import Any

import pytest
import structlog
from flask import Flask, copy_current_request_context, g, request, stream_with_context
from freezegun import freeze_time
from werkzeug.test import EnvironBuilder

from app.hookwatch import get_logger
from app.hookwatch.hooks import RequestLifecycle, RequestState
from tests.conftest import sample, scrape


def iter_chunks(items: list[Any]) -> Any:
    """Yield each string; raise each exception."""
    for item in items:
        if isinstance(item, Exception):
            raise item
        yield item


def spy_on_log_context_clears(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the path of the request (``-`` outside one) at each call of structlog's
    ``clear_contextvars`` from now on, keeping its behaviour."""
    clear = structlog.contextvars.clear_contextvars
    paths: list[str] = []

    def recording_clear() -> None:
        paths.append(request.path if request else "-")
        clear()

    monkeypatch.setattr(structlog.contextvars, "clear_contextvars", recording_clear)
    return paths


def spy_on_lifecycle(monkeypatch: pytest.MonkeyPatch, events: list[Any]) -> None:
    """Record when each of our three hooks finishes, keeping their behaviour; for the apps
    built from now on (the hooks are registered when an app is built)."""
    before, after, teardown = (RequestLifecycle.before_request, RequestLifecycle.after_request,
                               RequestLifecycle.teardown_request)

    def spied_before(self: RequestLifecycle) -> Any:
        result = before(self)
        events.append("ours:before")
        return result

    def spied_after(self: RequestLifecycle, response: Any) -> Any:
        result = after(self, response)
        events.append("ours:after")
        return result

    def spied_teardown(self: RequestLifecycle, error: BaseException | None) -> None:
        teardown(self, error)
        events.append("ours:teardown")

    monkeypatch.setattr(RequestLifecycle, "before_request", spied_before)
    monkeypatch.setattr(RequestLifecycle, "after_request", spied_after)
    monkeypatch.setattr(RequestLifecycle, "teardown_request", spied_teardown)


def warmup_failures_counted(samples: dict) -> dict[str, float]:
    """``hookwatch_exceptions_total`` for the warm-up's ConnectionError, by route."""
    return {dict(labels)["http_route"]: value for (name, labels), value in samples.items()
            if name == "hookwatch_exceptions_total"
            and dict(labels)["error_type"] == "ConnectionError"}


@pytest.fixture
def traced(make_app, monkeypatch):
    """An app with other hooks and test views that record the order things run in."""

    def build(**overrides: Any) -> tuple[Flask, list[Any]]:
        events: list[Any] = []
        spy_on_lifecycle(monkeypatch, events)
        app = make_app(**overrides)

        @app.extensions["hookwatch"].warmup.register
        def warm() -> None:
            events.append(("warmup", "request_id" in g))

        @app.before_request
        def other_before() -> Any:
            events.append(("other_before", "request_id" in g))
            if request.args.get("early"):
                return "early", 200
            return None

        @app.after_request
        def other_after(response: Any) -> Any:
            events.append(("other_after", "X-Request-ID" in response.headers))
            return response

        @app.teardown_request
        def other_teardown(error: BaseException | None) -> None:
            events.append("other_teardown")

        @app.route("/traced")
        def traced_view() -> str:
            events.append("view")
            return "ok"

        @app.route("/traced-raises")
        def traced_raises() -> str:
            events.append("view")
            raise ValueError("view failed")

        return app, events

    return build


class TestHookOrder:
    def test_order_of_a_normal_request(self, traced) -> None:
        """Warm-up (first request only), ours first, others, view, others, ours last, teardown."""
        app, events = traced()
        client = app.test_client()
        client.get("/traced")
        assert events == [
            ("warmup", True),  # inside our step: the id is given first, so its lines carry it
            "ours:before",
            ("other_before", True),  # ours had already put the id on g
            "view",
            ("other_after", False),  # ours had not yet added its headers
            "ours:after",
            "other_teardown",
            "ours:teardown",
        ]
        events.clear()
        client.get("/traced")
        assert events[0] == "ours:before"  # no second warm-up
        assert ("warmup", True) not in events

    def test_order_when_a_before_request_answers_early(self, traced) -> None:
        """A before_request returning a response skips the view; the after hooks still run."""
        app, events = traced()
        response = app.test_client().get("/traced?early=1")
        assert response.data == b"early"
        assert events[1:] == [
            "ours:before",
            ("other_before", True),
            ("other_after", False),
            "ours:after",
            "other_teardown",
            "ours:teardown",
        ]

    def test_order_when_the_view_raises_without_propagation(self, traced) -> None:
        """With PROPAGATE_EXCEPTIONS off the 500 response goes through every after hook."""
        app, events = traced(PROPAGATE_EXCEPTIONS=False)
        assert app.test_client().get("/traced-raises").status_code == 500
        assert events[1:] == [
            "ours:before", ("other_before", True), "view", ("other_after", False),
            "ours:after", "other_teardown", "ours:teardown",
        ]

    def test_order_when_the_view_raises_with_propagation(self, traced) -> None:
        """With PROPAGATE_EXCEPTIONS on the exception skips after_request; teardown still runs."""
        app, events = traced(PROPAGATE_EXCEPTIONS=True)
        with pytest.raises(ValueError):
            app.test_client().get("/traced-raises")
        assert events[1:] == [
            "ours:before", ("other_before", True), "view", "other_teardown", "ours:teardown",
        ]

    def test_our_teardown_runs_when_another_teardown_raises(self, make_app, logs) -> None:
        """Flask skips later teardown functions when one raises; ours is not among them, and
        records the 500 the server then answers."""
        app = make_app()

        @app.teardown_request
        def broken_teardown(error: BaseException | None) -> None:
            raise OSError("teardown failed")

        with pytest.raises(OSError):
            app.test_client().get("/")
        [line] = logs.requests
        assert (line["event"], line["route"], line["status"]) == ("request_failed", "/", 500)
        registry = app.extensions["hookwatch"].metrics.registry
        assert registry.get_sample_value("http_server_request_duration_seconds_count", {
            "http_request_method": "GET", "http_route": "/",
            "http_response_status_code": "500"}) == 1


class TestExactTimings:
    def test_frozen_clock_ticks_appear_exactly_everywhere(self, make_app, logs) -> None:
        """Ticks of 0.25 s, 0.5 s, 0.125 s and 2 s in the phases show up exactly in the
        header, the histograms and the log line."""
        with freeze_time("2026-01-01 00:00:00") as frozen:
            app = make_app()

            @app.extensions["hookwatch"].warmup.register
            def slow_warmup() -> None:
                frozen.tick(10)  # the warm-up's time is not the request's

            @app.before_request
            def slow_before() -> None:
                frozen.tick(0.25)

            @app.route("/timed")
            def timed() -> str:
                frozen.tick(0.5)
                return "ok"

            @app.after_request
            def slow_after(response: Any) -> Any:
                frozen.tick(0.125)
                return response

            @app.teardown_request
            def slow_teardown(error: BaseException | None) -> None:
                frozen.tick(2)

            client = app.test_client()
            response = client.get("/timed")
            samples = scrape(client)

        assert response.headers["Server-Timing"] == (
            "before;dur=250.000, view;dur=500.000, after;dur=125.000, total;dur=875.000"
        )
        labels = {"http_request_method": "GET", "http_route": "/timed",
                  "http_response_status_code": "200"}
        assert sample(samples, "http_server_request_duration_seconds_sum", **labels) == 0.875
        assert sample(samples, "http_server_request_duration_seconds_count", **labels) == 1
        phase_sums = {
            phase: sample(samples, "hookwatch_request_phase_duration_seconds_sum", phase=phase)
            for phase in ("before_request", "view", "after_request", "teardown")
        }
        assert phase_sums == {"before_request": 0.25, "view": 0.5, "after_request": 0.125,
                              "teardown": 2.0}
        assert sample(samples, "hookwatch_warmup_duration_seconds") == 10.0
        [line] = [entry for entry in logs.requests if entry["path"] == "/timed"]
        assert line["duration_ms"] == 875.0
        assert line["timestamp"] == "2026-01-01T00:00:12.875000Z"  # warm-up 10 + 0.875 + teardown 2

    def test_server_timing_can_be_turned_off(self, make_app) -> None:
        """SERVER_TIMING=False drops the header; the request id stays."""
        response = make_app(HOOKWATCH_SERVER_TIMING=False).test_client().get("/")
        assert "Server-Timing" not in response.headers
        assert response.headers["X-Request-ID"]


class TestServerErrors:
    BOOM = {"http_request_method": "GET", "http_route": "/boom", "http_response_status_code": "500"}

    @pytest.mark.parametrize("propagate", [True, False])
    def test_unhandled_exception_is_counted_and_logged_once(self, make_app, logs, propagate) -> None:
        """The 500 path: one count, one exception count, one request_failed line, gauge at 0."""
        app = make_app(PROPAGATE_EXCEPTIONS=propagate)
        client = app.test_client()
        if propagate:
            with pytest.raises(RuntimeError, match="boom"):
                client.get("/boom")
        else:
            assert client.get("/boom").status_code == 500
        samples = scrape(client)
        assert sample(samples, "http_server_request_duration_seconds_count", **self.BOOM) == 1
        assert sample(samples, "hookwatch_exceptions_total", http_route="/boom",
                      error_type="RuntimeError") == 1
        assert sample(samples, "http_server_active_requests", http_request_method="GET") == 0
        [line] = [entry for entry in logs.requests if entry["path"] == "/boom"]
        assert line["event"] == "request_failed"
        assert line["level"] == "error"
        assert line["status"] == 500
        assert line["error_type"] == "RuntimeError"
        assert "RuntimeError: boom" in line["exception"]
        assert 'in boom' in line["exception"]  # the traceback reaches the view
        # Flask logs the exception on app.logger too (unless it propagates), without a
        # second copy of the traceback in hookwatch's output.
        flask_lines = ["Exception on /boom [GET]"] if not propagate else []
        assert [entry["event"] for entry in logs.lines
                if entry.get("request_id") == line["request_id"]] \
            == ["app_warmup_finished", *flask_lines, "request_failed"]  # the first warms up
        assert all("exception" not in entry for entry in logs.events(*flask_lines))


class TestWarmup:
    def test_concurrent_first_requests_warm_up_once(self, make_app) -> None:
        """Sixteen threads sending the first request at once trigger exactly one warm-up."""
        app = make_app()
        runs = []
        start = threading.Barrier(16)

        @app.extensions["hookwatch"].warmup.register
        def slow_warmup() -> None:
            runs.append(threading.get_ident())
            threading.Event().wait(0.2)

        statuses = []

        def first_request() -> None:
            client = app.test_client()
            start.wait()
            statuses.append(client.get("/").status_code)

        threads = [threading.Thread(target=first_request) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert len(runs) == 1
        assert statuses == [200] * 16

    def test_failed_warmup_answers_503_and_is_retried(self, make_app, logs) -> None:
        """A failing warm-up gives 503, is logged and counted; the next request retries;
        /readyz says 503 until a warm-up succeeds, then 200."""
        app = make_app()
        failures = [ConnectionError("cache down"), ConnectionError("cache still down")]

        @app.extensions["hookwatch"].warmup.register
        def flaky() -> None:
            if failures:
                raise failures.pop(0)

        client = app.test_client()
        first = client.get("/", headers={"Accept": "application/json"})
        assert first.status_code == 503
        assert "warm-up failed (ConnectionError)" in first.json["message"]
        assert client.get("/readyz").status_code == 503
        ready = client.get("/readyz")
        assert ready.status_code == 200
        samples = scrape(client)
        assert sample(samples, "hookwatch_ready") == 1
        assert warmup_failures_counted(samples) == {"/": 1, "/readyz": 1}
        assert sample(samples, "http_server_request_duration_seconds_count",
                      http_request_method="GET", http_route="/readyz",
                      http_response_status_code="503") == 1
        assert [line["event"] for line in logs.events("app_warmup_failed", "app_warmup_finished")] \
            == ["app_warmup_failed", "app_warmup_failed", "app_warmup_finished"]
        assert [line["status"] for line in logs.requests[:3]] == [503, 503, 200]

    def test_probes_and_scrapes_answer_while_the_warmup_fails(self, make_app) -> None:
        """/healthz stays 200 and /metrics keeps answering (showing the failures) while every
        warm-up fails; /readyz and the lesson routes say 503."""
        app = make_app()

        @app.extensions["hookwatch"].warmup.register
        def broken() -> None:
            raise ConnectionError("cache down")

        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
        assert client.get("/").status_code == 503
        samples = scrape(client)
        assert sample(samples, "hookwatch_ready") == 0
        # Every request that met the failure counts it, the scrape that reports it included.
        assert warmup_failures_counted(samples) == {"/healthz": 1, "/readyz": 1, "/": 1,
                                                    "/metrics": 1}

    def test_warmup_compiles_every_template(self, app) -> None:
        """After the warm-up every template is compiled and cached: no first-hit compile."""
        with app.app_context():  # where warm-up functions run
            app.extensions["hookwatch"].warmup.ensure()
        env = app.jinja_env
        names = env.list_templates()
        assert "index.html" in names and "error.html" in names
        assert all((weakref.ref(env.loader), name) in env.cache for name in names)

    def test_warmup_lines_carry_the_request_id(self, client, logs) -> None:
        """The warm-up runs inside the first request, and its log line says which."""
        response = client.get("/")
        [line] = logs.events("app_warmup_finished")
        assert line["request_id"] == response.headers["X-Request-ID"]

    def test_not_ready_before_the_first_request(self, app) -> None:
        """hookwatch_ready starts at 0 and the warm-up has not run at creation."""
        assert app.extensions["hookwatch"].warmup.done is False
        registry = app.extensions["hookwatch"].metrics.registry
        assert registry.get_sample_value("hookwatch_ready") == 0


class TestRequestIds:
    @pytest.mark.parametrize("incoming", ["A" * 65, "has space", "semi;colon", "quote\"", ""])
    def test_rejected_ids_never_reach_response_or_logs(self, client, logs, incoming) -> None:
        """An invalid X-Request-ID is replaced, and appears neither in headers nor in logs."""
        response = client.get("/", headers={"X-Request-ID": incoming})
        issued = response.headers["X-Request-ID"]
        assert issued != incoming and len(issued) == 32
        [line] = logs.requests
        assert line["request_id"] == issued
        if incoming:
            assert incoming not in logs.text

    def test_non_ascii_id_is_rejected(self, client, logs) -> None:
        """Non-ASCII bytes in the header (latin-1 in WSGI) are rejected too."""
        response = client.get("/", environ_base={"HTTP_X_REQUEST_ID": "h\xe9llo"})
        assert response.headers["X-Request-ID"] != "h\xe9llo"
        assert "h\\u00e9llo" not in logs.text and "h\xe9llo" not in logs.text

    def test_valid_id_is_echoed_and_logged(self, client, logs) -> None:
        """A valid incoming id is the request's id: in the header, on g, in every line."""
        response = client.get("/context", headers={"X-Request-ID": "req-42.a:b"})
        assert response.headers["X-Request-ID"] == "req-42.a:b"
        assert b"req-42.a:b" in response.data  # /context shows g.request_id
        request_lines = [line for line in logs.lines if line["event"] != "app_warmup_finished"]
        assert {line["request_id"] for line in request_lines} == {"req-42.a:b"}

    def test_traceparent_adds_trace_id(self, client, logs) -> None:
        """A valid traceparent's trace id is logged with the request."""
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        client.get("/", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
        assert logs.requests[0]["trace_id"] == trace

    def test_request_made_inside_a_request(self, make_app, logs) -> None:
        """A view that makes a request of its own: each has its own id, status and line, and
        the outer request's record is whole after the inner one ended."""
        app = make_app()

        def outer() -> str:
            inner = app.test_client().get("/no-such-page", headers={"X-Request-ID": "inner"})
            logging.getLogger("view").warning("inner answered %s", inner.status_code)
            return g.request_id

        app.add_url_rule("/outer", "outer", outer)
        response = app.test_client().get("/outer", headers={"X-Request-ID": "outer"})
        assert response.headers["X-Request-ID"] == "outer" and response.text == "outer"
        assert [(line["request_id"], line["route"], line["status"]) for line in logs.requests] == [
            ("inner", "", 404), ("outer", "/outer", 200)]
        [view_line] = logs.events("inner answered 404")
        assert view_line["request_id"] == "outer"


    @pytest.mark.parametrize("kind", ["fresh", "same environ", "copied, in a thread"])
    def test_context_pushed_inside_a_request_is_left_alone(self, make_app, logs, kind) -> None:
        """A request context opened inside a view without dispatching (a fresh one, one on
        the request's own environ, a copy run in a thread the view waits for) neither takes
        over nor ends the outer request's record: one line, the outer request's, a 200."""
        app = make_app()

        def nested() -> str:
            if kind == "fresh":
                with app.test_request_context("/inner"):
                    pass
            elif kind == "same environ":
                with app.request_context(request.environ):
                    pass
            else:
                worker = threading.Thread(target=copy_current_request_context(lambda: None))
                worker.start()
                worker.join()
            return g.request_id

        app.add_url_rule("/nested", "nested", nested)
        response = app.test_client().get("/nested", headers={"X-Request-ID": "outer"})
        assert response.text == "outer"
        assert [(line["request_id"], line["path"], line["status"]) for line in logs.requests] == [
            ("outer", "/nested", 200)]


class TestLogContext:
    def test_context_does_not_leak_into_the_next_request(self, client, logs) -> None:
        """Two requests on one thread: the second's lines carry only its own context."""
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        first = client.get("/context", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
        second = client.get("/context")
        second_id = second.headers["X-Request-ID"]
        assert second_id != first.headers["X-Request-ID"]
        second_lines = [line for line in logs.lines if line.get("request_id") == second_id]
        assert [line["event"] for line in second_lines] == ["context_visited", "request_finished"]
        assert all("trace_id" not in line for line in second_lines)

    def test_stdlib_logging_in_a_view_carries_the_request_id(self, make_app, logs) -> None:
        """A plain logging call inside a view goes through structlog with the request id."""
        app = make_app()

        @app.route("/logs-something")
        def logs_something() -> str:
            logging.getLogger("some.library").warning("disk %s is slow", "sda")
            return "ok"

        response = app.test_client().get("/logs-something")
        [line] = logs.events("disk sda is slow")
        assert line["request_id"] == response.headers["X-Request-ID"]
        assert line["logger"] == "some.library"
        assert line["level"] == "warning"

    def test_fields_a_view_binds_end_with_its_request(self, make_app, logs,
                                                       monkeypatch) -> None:
        """A view's own structlog context is on its lines, not on the next request's; and
        the request's ids stay on its lines even if the view clears that context."""
        clear = structlog.contextvars.clear_contextvars  # the view's own call is not recorded
        teardown_clears = spy_on_log_context_clears(monkeypatch)
        app = make_app()
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"

        @app.route("/binds")
        def binds() -> str:
            structlog.contextvars.bind_contextvars(user="ada")
            get_logger().info("bound")
            clear()
            get_logger().info("cleared")
            structlog.contextvars.bind_contextvars(user="grace")  # left bound
            return "ok"

        client = app.test_client()
        first = client.get("/binds", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
        second = client.get("/context")
        assert teardown_clears == ["/binds", "/context"]
        bound, cleared = logs.events("bound", "cleared")
        assert (bound["user"], bound["request_id"], bound["trace_id"]) == (
            "ada", first.headers["X-Request-ID"], trace)
        assert (cleared["request_id"], cleared["trace_id"]) == (
            first.headers["X-Request-ID"], trace)
        assert "user" not in cleared
        [visited] = logs.events("context_visited")
        assert visited["request_id"] == second.headers["X-Request-ID"]
        assert "user" not in visited and "trace_id" not in visited

    def test_a_request_id_the_view_binds_wins(self, make_app, logs) -> None:
        """A line's own ``request_id``, passed or bound, is kept; other lines get the
        request's."""
        app = make_app()

        @app.route("/own-id")
        def own_id() -> str:
            get_logger().info("passed", request_id="job-7")
            structlog.contextvars.bind_contextvars(request_id="job-8")
            get_logger().info("bound")
            return "ok"

        app.test_client().get("/own-id")
        assert [line["request_id"] for line in logs.events("passed", "bound")] == [
            "job-7", "job-8"]

    def test_lines_in_a_streamed_body_and_a_copied_context_carry_the_ids(
        self, make_app, logs
    ) -> None:
        """Lines logged where the request's context is pushed again, after its view
        returned: in a body streamed with stream_with_context, in a thread running
        copy_current_request_context or a copy of the context."""
        app = make_app()

        def chunks() -> Any:
            get_logger().info("streaming")
            yield "a"

        @app.route("/stream-logs")
        def stream_logs() -> Any:
            in_a_copy = contextvars.copy_context()
            for target in (copy_current_request_context(lambda: get_logger().info("copied")),
                           lambda: in_a_copy.run(logging.getLogger("worker").warning,
                                                 "in a copy")):
                worker = threading.Thread(target=target)
                worker.start()
                worker.join()
            return app.response_class(stream_with_context(chunks()))

        response = app.test_client().get("/stream-logs", headers={"X-Request-ID": "s-2"})
        assert response.data == b"a"
        lines = logs.events("streaming", "copied", "in a copy")
        assert sorted(line["event"] for line in lines) == ["copied", "in a copy", "streaming"]
        assert {line["request_id"] for line in lines} == {"s-2"}

    def test_no_context_outside_requests(self, client, logs) -> None:
        """After a request, a line logged outside any request has no request id."""
        client.get("/")
        logging.getLogger("after").warning("outside")
        [line] = logs.events("outside")
        assert "request_id" not in line


class TestCardinality:
    def test_unknown_paths_add_no_routes(self, client) -> None:
        """Hundreds of random unknown paths all land in one empty-route series."""
        client.get("/")
        for number in range(300):
            client.get(f"/no/such/page/{number}?q={number}")
        samples = scrape(client)
        routes = {dict(labels).get("http_route") for name, labels in samples
                  if name == "http_server_request_duration_seconds_count"}
        assert routes == {"/", ""}
        assert sample(samples, "http_server_request_duration_seconds_count",
                      http_request_method="GET", http_route="",
                      http_response_status_code="404") == 300

    def test_odd_methods_are_other(self, client) -> None:
        """A method outside the standard set is labelled _OTHER (405: no rule matched)."""
        client.open("/", method="FOO")
        samples = scrape(client)
        assert sample(samples, "http_server_request_duration_seconds_count",
                      http_request_method="_OTHER", http_route="",
                      http_response_status_code="405") == 1

    def test_metrics_endpoint_is_not_counted(self, client) -> None:
        """Scrapes do not count themselves."""
        scrape(client)
        samples = scrape(client)
        routes = {dict(labels).get("http_route") for name, labels in samples
                  if name == "http_server_request_duration_seconds_count"}
        assert "/metrics" not in routes


class TestInFlight:
    def test_a_request_is_in_flight_while_it_runs_and_only_then(self, app, client) -> None:
        """The gauge reads 1 inside the view (0 for other methods), 0 once it ended, even
        when the view raised; the scrape does not count itself."""
        registry = app.extensions["hookwatch"].metrics.registry
        seen = []

        def view() -> str:
            seen.append({method: registry.get_sample_value(
                "http_server_active_requests", {"http_request_method": method})
                for method in ("GET", "POST")})
            if request.args.get("fail"):
                raise RuntimeError("boom")
            return "ok"

        app.add_url_rule("/in-flight", "in_flight", view)
        client.get("/in-flight")
        with pytest.raises(RuntimeError, match="boom"):  # the testing config propagates it
            client.get("/in-flight?fail=1")
        assert seen == [{"GET": 1, "POST": 0}] * 2
        assert sample(scrape(client), "http_server_active_requests",
                      http_request_method="GET") == 0


class TestResponseSizes:
    def test_streamed_body_is_not_buffered(self, make_app, logs) -> None:
        """A streamed response leaves the hooks unread: its line says the size is unknown,
        the response-size histogram is not fed a guess, and the client still gets it all."""
        app = make_app()
        chunks_read: list[str] = []

        def chunks() -> Any:
            for chunk in ("a" * 10, "b" * 20):
                chunks_read.append(chunk)
                yield chunk

        app.add_url_rule("/stream", "stream", lambda: app.response_class(chunks()))
        body = app(EnvironBuilder(path="/stream").get_environ(), lambda *_: None)
        assert chunks_read == []  # our hooks have all run: nothing was read
        assert b"".join(body) == b"a" * 10 + b"b" * 20
        body.close()
        client = app.test_client()
        [line] = logs.requests
        assert line["route"] == "/stream" and line["response_bytes"] is None
        assert sample(scrape(client), "http_server_response_body_size_bytes_count",
                      http_request_method="GET", http_route="/stream") == 0

    def test_stream_with_context_client_leaving_is_not_a_failure(self, make_app, logs) -> None:
        """A body streamed with stream_with_context pops the request's context again when it
        ends; a client that went away midway adds no line and no 500."""
        app = make_app()
        app.add_url_rule("/stream", "stream", lambda: app.response_class(
            stream_with_context(iter_chunks(["a", "b", "c"]))))
        body = app(EnvironBuilder(path="/stream").get_environ(), lambda *_: None)
        assert next(iter(body)) == b"a"
        body.close()  # the server gives up on the client
        assert [(line["event"], line["status"]) for line in logs.requests] == [
            ("request_finished", 200)]
        assert logs.events("response_stream_failed") == []

    def test_stream_with_context_failure_is_logged_with_the_request_id(self, make_app,
                                                                        logs) -> None:
        """An exception raised while streaming is logged once, with the request's id, and
        counted; the request itself stays one 200 line and one count."""
        app = make_app()
        app.add_url_rule("/stream", "stream", lambda: app.response_class(
            stream_with_context(iter_chunks(["a", RuntimeError("disk gone")]))))
        environ = EnvironBuilder(path="/stream", headers={"X-Request-ID": "s-1"}).get_environ()
        body = app(environ, lambda *_: None)
        with pytest.raises(RuntimeError):
            b"".join(body)
        body.close()
        [request_line] = logs.requests
        [failure] = logs.events("response_stream_failed")
        assert (request_line["request_id"], request_line["status"]) == ("s-1", 200)
        assert (failure["request_id"], failure["error_type"]) == ("s-1", "RuntimeError")
        assert "disk gone" in failure["exception"]
        samples = scrape(app.test_client())
        assert sample(samples, "hookwatch_exceptions_total", http_route="/stream",
                      error_type="RuntimeError") == 1
        assert sample(samples, "http_server_request_duration_seconds_count",
                      http_request_method="GET", http_route="/stream",
                      http_response_status_code="200") == 1

    @pytest.mark.parametrize(("body", "size"), [
        ("héllo", 6), (b"\x00" * 3, 3), (["ü", b"ab", "c"], 5), ((b"ab", b"cd"), 4), ([], 0),
    ])
    def test_body_size_is_its_encoded_bytes(self, make_app, logs, body, size) -> None:
        """A body in memory is measured in bytes as sent, whatever the view returned."""
        app = make_app()
        app.add_url_rule("/body", "body", lambda: app.response_class(body))
        response = app.test_client().get("/body")
        assert len(response.data) == logs.requests[-1]["response_bytes"] == size

    def test_declared_length_of_a_stream_is_its_size(self, make_app, logs) -> None:
        """A stream that declares its Content-Length (as send_file does) is that size."""
        app = make_app()
        app.add_url_rule("/declared", "declared", lambda: app.response_class(
            iter([b"x" * 7]), headers={"Content-Length": "7"}))
        app.test_client().get("/declared")
        assert logs.requests[-1]["response_bytes"] == 7


class TestOwnFailures:
    def test_after_request_failing_midway_keeps_the_line_and_the_count(
        self, make_app, logs, monkeypatch, capfd
    ) -> None:
        """If our after_request breaks after noting the status, the response still goes out
        and the request is still counted and logged, with the status the client got."""
        app = make_app()

        def broken_phases(self: Any, now: float) -> tuple[float, float, float]:
            raise ArithmeticError("phases broke")

        monkeypatch.setattr(RequestState, "phases", broken_phases)
        response = app.test_client().get("/")
        assert response.status_code == 200 and response.headers["X-Request-ID"]
        [line] = logs.requests
        assert (line["event"], line["status"]) == ("request_finished", 200)
        registry = app.extensions["hookwatch"].metrics.registry
        assert registry.get_sample_value("http_server_request_duration_seconds_count", {
            "http_request_method": "GET", "http_route": "/",
            "http_response_status_code": "200"}) == 1
        assert "after_request failed: ArithmeticError" in capfd.readouterr().err

    def test_broken_error_page_still_gives_the_warmup_503(self, make_app, logs) -> None:
        """A failed warm-up whose error page cannot render either still answers a plain 503,
        logged and counted."""
        app = make_app()

        @app.extensions["hookwatch"].warmup.register
        def broken() -> None:
            raise ConnectionError("cache down")

        @app.errorhandler(503)
        def broken_page(error: Exception) -> Any:
            raise LookupError("template missing")

        response = app.test_client().get("/")
        assert response.status_code == 503
        [line] = logs.requests
        assert line["status"] == 503
