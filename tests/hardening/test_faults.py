"""Faults inside the app: every request still answered, counted once and logged once.

These run through the test client with ``PROPAGATE_EXCEPTIONS`` off, as in production: the
faults are the app's own, no socket needed.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from prometheus_client import Counter, Gauge, Histogram

from tests.conftest import sample
from tests.servers import Samples, parse_metrics


def scrape(client) -> Samples:
    """The parsed exposition, read from the app (a failing hook would fail ``/metrics`` too)."""
    body, _ = client.application.extensions["hookwatch"].metrics.render(None)
    return parse_metrics(body.decode())


def counted(samples: dict) -> float:
    return sum(v for (name, _), v in samples.items()
               if name == "http_server_request_duration_seconds_count")


def in_flight(samples: dict) -> float:
    return sum(v for (name, _), v in samples.items() if name == "http_server_active_requests")


def hookwatch_stderr(capfd: pytest.CaptureFixture) -> list[str]:
    return [line for line in capfd.readouterr().err.splitlines() if "hookwatch" in line]


@pytest.fixture
def prod_like(make_app):
    """An app that turns unhandled exceptions into 500s, as production does."""

    def factory(**overrides: Any):
        overrides.setdefault("PROPAGATE_EXCEPTIONS", False)
        return make_app(**overrides)

    return factory


def raise_error(*_: Any) -> None:
    raise LookupError("an extension failed")


class TestExceptionsInHooks:
    """An exception in the view, another extension's hook or an error handler."""

    def check_one(self, client, logs, status: int, route: str, error_type: str) -> None:
        samples = scrape(client)
        assert counted(samples) == 1
        assert sample(samples, "http_server_request_duration_seconds_count",
                      http_request_method="GET", http_route=route,
                      http_response_status_code=status) == 1
        assert sample(samples, "hookwatch_exceptions_total", http_route=route,
                      error_type=error_type) == 1
        assert in_flight(samples) == 0
        [line] = logs.requests
        assert line["event"] == "request_failed" and line["error_type"] == error_type
        # Flask's own records (app.logger) carry the request's id; the one of the exception
        # the request line carries comes without a second traceback.
        flask_lines = [other for other in logs.lines
                       if other["event"] not in {"app_warmup_finished", "request_failed"}]
        assert all(other["logger"] == "app" and other["request_id"] == line["request_id"]
                   for other in flask_lines), flask_lines
        if flask_lines:
            assert flask_lines[0]["event"].startswith("Exception on ")
            assert "exception" not in flask_lines[0]
        assert line["status"] == status

    def test_view(self, prod_like, logs) -> None:
        """The view raises: 500, counted and logged once with the exception type."""
        client = prod_like().test_client()
        assert client.get("/boom").status_code == 500
        self.check_one(client, logs, 500, "/boom", "RuntimeError")

    def test_other_before_request(self, prod_like, logs) -> None:
        """Another extension's before_request raises: 500 with our headers, once."""
        app = prod_like()
        app.before_request(raise_error)
        response = app.test_client().get("/healthz")
        assert response.status_code == 500 and "X-Request-ID" in response.headers
        self.check_one(app.test_client(), logs, 500, "/healthz", "LookupError")

    def test_other_after_request(self, prod_like, logs) -> None:
        """Another extension's after_request raises, again on the error page: 500, once."""
        app = prod_like()
        app.after_request(raise_error)
        assert app.test_client().get("/healthz").status_code == 500
        self.check_one(app.test_client(), logs, 500, "/healthz", "LookupError")

    def test_other_teardown_request(self, prod_like, logs) -> None:
        """Another extension's teardown raises after the response was made: Flask lets the
        error reach the server, which answers 500; counted as that 500 and logged once."""
        app = prod_like()
        app.teardown_request(raise_error)
        with pytest.raises(LookupError):
            app.test_client().get("/healthz")
        self.check_one(app.test_client(), logs, 500, "/healthz", "LookupError")

    def test_error_handler(self, prod_like, logs) -> None:
        """An error handler raises while handling a 404: Flask's 500 page, once."""
        app = prod_like()
        app.register_error_handler(404, raise_error)
        assert app.test_client().get("/nope").status_code == 500
        self.check_one(app.test_client(), logs, 500, "", "LookupError")


class BrokenStream(io.StringIO):
    """A sink whose writes fail like a closed pipe, from the start or once ``broken``."""

    def __init__(self, broken: bool = True) -> None:
        super().__init__()
        self.broken = broken

    def write(self, text: str) -> int:
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


class TestLogSinkFailing:
    """The log sink breaks: answers and counts go on, the failure is told once on stderr."""

    @pytest.mark.parametrize("kind", ["closed", "broken pipe"])
    def test_sink_breaks_after_start(self, prod_like, kind, capfd) -> None:
        """A sink that worked, then closes or breaks: every answer and count goes on."""
        stream = BrokenStream(broken=False)
        client = prod_like(LOG_STREAM=stream).test_client()
        assert client.get("/healthz").status_code == 200
        assert '"request_finished"' in stream.getvalue()  # the sink worked until now
        capfd.readouterr()
        if kind == "closed":
            stream.close()
        else:
            stream.broken = True
        for path, status in (("/healthz", 200), ("/context", 200), ("/nope", 404),
                             ("/boom", 500), ("/healthz", 200)):
            response = client.get(path)
            assert response.status_code == status
            assert "X-Request-ID" in response.headers
        samples = scrape(client)
        assert counted(samples) == 6 and in_flight(samples) == 0
        reports = hookwatch_stderr(capfd)
        assert len(reports) == 1, reports
        assert "log" in reports[0]

    def test_sink_broken_from_the_start(self, prod_like, capfd) -> None:
        """Even the warm-up line failing does not fail the first request."""
        client = prod_like(LOG_STREAM=BrokenStream()).test_client()
        assert client.get("/healthz").status_code == 200
        assert client.get("/healthz").status_code == 200
        assert counted(scrape(client)) == 2
        assert len(hookwatch_stderr(capfd)) == 1


class TestMetricUpdateFailing:
    """A metric update raises (say, a multiprocess file on a full disk)."""

    @pytest.mark.parametrize("failing", ["observe", "inc", "dec", "all"])
    def test_response_and_line_survive(self, prod_like, logs, monkeypatch, capfd, failing) -> None:
        app = prod_like()
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        capfd.readouterr()

        def broken(*_: Any, **__: Any) -> None:
            raise OSError(28, "No space left on device")

        targets = {"observe": [(Histogram, "observe")],
                   "inc": [(Gauge, "inc"), (Counter, "inc")],
                   "dec": [(Gauge, "dec")]}
        targets["all"] = [t for group in targets.values() for t in group]
        with monkeypatch.context() as patch:
            for cls, name in targets[failing]:
                patch.setattr(cls, name, broken)
            for _ in range(3):
                response = client.get("/healthz")
                assert response.status_code == 200 and "X-Request-ID" in response.headers
            assert client.get("/boom").status_code == 500
            assert client.get("/metrics").status_code == 200
        assert len(logs.requests) == 6  # every request logged (the scrape too), whatever happened
        reports = hookwatch_stderr(capfd)
        assert 1 <= len(reports) <= 3 and len(set(reports)) == len(reports), reports

        # Metrics back: the next requests are counted and the gauge is not left drifting.
        before = counted(scrape(client))
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
        samples = scrape(client)
        assert counted(samples) == before + 3
        # A failed increment is never undone; a failed decrement cannot be redone (4 lost).
        assert in_flight(samples) == (4 if failing == "dec" else 0)
