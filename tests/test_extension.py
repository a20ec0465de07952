"""hookwatch as a Flask extension on a plain ``flask.Flask``: set-up, options, and Flask's
own semantics kept (each departure an earlier version made has its regression test here)."""

from __future__ import annotations

import gc
import io
import logging
import re
import weakref
from pathlib import Path
from typing import Any

import pytest
import structlog
from flask import Flask, g
from prometheus_client import CollectorRegistry

from app.hookwatch import Hookwatch, configure_logging

README = Path(__file__).resolve().parent.parent / "README.md"


def plain_app(instrumented: bool = True, **config: Any) -> Flask:
    """A plain Flask app (a fresh logger name each time) with a few routes, and hookwatch
    on it if ``instrumented``."""
    plain_app.count = getattr(plain_app, "count", 0) + 1
    app = Flask(f"plain{plain_app.count}")
    app.config.update(config)
    if instrumented:
        Hookwatch(app)

    @app.route("/")
    def index() -> str:
        return "ok"

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.route("/own-id")
    def own_id() -> Any:
        return "mine", 200, {"X-Request-ID": "set-by-the-view"}

    return app


def count(app: Flask, route: str, status: int) -> float | None:
    return app.extensions["hookwatch"].metrics.registry.get_sample_value(
        "http_server_request_duration_seconds_count",
        {"http_request_method": "GET", "http_route": route,
         "http_response_status_code": str(status)})


class TestSetUp:
    def test_the_readme_example_runs(self) -> None:
        """The README's plain-Flask example, run as it is: ids, Server-Timing, metrics at
        /metrics and one structlog line per request."""
        text = README.read_text(encoding="utf-8")
        [code] = re.findall(r"<!-- example: plain-flask -->\n```python\n(.*?)```", text, re.S)
        assert len(code.strip().splitlines()) <= 10
        namespace: dict[str, Any] = {"__name__": "readme_example"}
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
        app = namespace["app"]
        client = app.test_client()
        with structlog.testing.capture_logs() as captured:
            response = client.get("/")
        assert response.status_code == 200
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
        assert response.headers["Server-Timing"].startswith("before;dur=")
        assert b'http_route="/"' in client.get("/metrics").data
        assert [line["request_id"] for line in captured if line["event"] == "request_finished"] \
            == [response.headers["X-Request-ID"]]

    def test_init_app_in_a_factory_with_options(self) -> None:
        """``Hookwatch(...)`` then ``init_app``: keyword options for every app, config keys
        per app, each app with its own registry unless one is given."""
        registry = CollectorRegistry()
        hookwatch = Hookwatch(registry=registry, server_timing=False)
        app = Flask("factory")
        app.config["HOOKWATCH_METRICS_PATH"] = "/internal/metrics"
        lifecycle = hookwatch.init_app(app)
        app.add_url_rule("/", "index", lambda: "ok")
        client = app.test_client()
        response = client.get("/")
        assert app.extensions["hookwatch"] is lifecycle and lifecycle.metrics.registry is registry
        assert "Server-Timing" not in response.headers and response.headers["X-Request-ID"]
        assert client.get("/internal/metrics").status_code == 200
        assert client.get("/metrics").status_code == 404
        assert count(app, "/", 200) == 1

    def test_no_metrics_endpoint_when_asked(self) -> None:
        app = Flask("quiet")
        Hookwatch(app, metrics_path=None)
        assert "hookwatch.metrics" not in app.view_functions

    def test_clear_errors_for_misuse(self) -> None:
        """An unknown option and a second initialisation are refused, naming the problem."""
        with pytest.raises(TypeError, match="unknown Hookwatch option.*: server_timeing"):
            Hookwatch(server_timeing=False)
        app = Flask("twice")
        Hookwatch(app)
        with pytest.raises(RuntimeError, match="already initialised"):
            Hookwatch(app)

    def test_init_app_changes_no_process_wide_state(self) -> None:
        """Neither the root logger nor structlog's configuration is touched."""
        root = logging.getLogger()
        handlers, level, config = root.handlers[:], root.level, structlog.get_config()
        Hookwatch(Flask("untouched"))
        assert (root.handlers, root.level) == (handlers, level)
        assert structlog.get_config() == config


class TestFlaskSemantics:
    """What Flask does without hookwatch, it does with it."""

    @staticmethod
    def after_request_failing_later(app: Flask) -> dict[str, bool]:
        switch = {"fail": False}

        @app.after_request
        def maybe_fail(response: Any) -> Any:
            if switch["fail"]:
                raise LookupError("an after_request function failed")
            return response

        return switch

    @pytest.mark.parametrize("instrumented", [False, True])
    def test_after_request_raising_gives_flasks_500_in_a_pushed_context(self, instrumented
                                                                       ) -> None:
        """In an app context that stays pushed, a request that went through Flask's
        unhandled-exception path, then one whose after_request raises: Flask's 500."""
        app = plain_app(instrumented)
        switch = self.after_request_failing_later(app)
        client = app.test_client()
        with app.app_context():
            assert client.get("/boom").status_code == 500
            switch["fail"] = True
            assert client.get("/").status_code == 500
        if instrumented:
            assert count(app, "/", 500) == 1 and count(app, "/boom", 500) == 1

    @pytest.mark.parametrize("instrumented", [False, True])
    def test_after_request_raising_propagates_when_testing(self, instrumented) -> None:
        """With TESTING on, Flask raises the after_request's exception to the test."""
        app = plain_app(instrumented, TESTING=True)
        self.after_request_failing_later(app)["fail"] = True
        with app.app_context(), pytest.raises(LookupError):
            app.test_client().get("/")

    def test_unhandled_exceptions_reach_app_logger_and_wsgi_errors(self, monkeypatch) -> None:
        """Flask logs an unhandled exception on ``app.logger``: its handlers get the record
        with its traceback, and with no logging configured, Flask's default handler writes
        it to ``wsgi.errors``."""
        monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as in a bare process
        app = plain_app()
        records: list[logging.LogRecord] = []
        collector = logging.Handler()
        collector.emit = records.append  # type: ignore[method-assign]
        app.logger.addHandler(collector)
        errors = io.StringIO()
        response = app.test_client().get("/boom", environ_overrides={"wsgi.errors": errors})
        assert response.status_code == 500
        [record] = records
        assert record.getMessage() == "Exception on /boom [GET]" and record.exc_info
        assert "Exception on /boom [GET]" in errors.getvalue()
        assert "RuntimeError: boom" in errors.getvalue()

    def test_one_traceback_in_hookwatchs_console_output(self) -> None:
        """With hookwatch's logging set-up, Flask's record and the request_failed line both
        appear, and the traceback once."""
        stream = io.StringIO()
        configure_logging("console", "INFO", stream)
        plain_app().test_client().get("/boom")
        text = stream.getvalue()
        assert "Exception on /boom [GET]" in text and "request_failed" in text
        assert text.count("Traceback (most recent call last)") == 1

    def test_the_app_and_its_registry_are_freed_without_the_cyclic_collector(self) -> None:
        """As Flask's test_app_freed_on_zero_refcount: an instrumented app that served
        requests, and its metrics registry, go as soon as the last reference does."""
        gc.collect()
        gc.disable()
        try:
            registry = CollectorRegistry()
            app = Flask("freed")
            Hookwatch(app, registry=registry)
            app.add_url_rule("/", "index", lambda: "ok")
            client = app.test_client()
            assert client.get("/").status_code == 200
            app_ref, registry_ref = weakref.ref(app), weakref.ref(registry)
            del app, client, registry
            assert app_ref() is None and registry_ref() is None
        finally:
            gc.enable()

    def test_a_request_id_the_view_set_is_not_doubled(self) -> None:
        """The view's own X-Request-ID goes out alone."""
        response = plain_app().test_client().get("/own-id")
        assert response.headers.getlist("X-Request-ID") == ["set-by-the-view"]

    def test_g_request_id_in_hooks_registered_after_hookwatch(self) -> None:
        """The app's own before_request functions run after hookwatch's: the id is there."""
        app = plain_app()
        seen = []
        app.before_request(lambda: seen.append(g.request_id))
        response = app.test_client().get("/")
        assert seen == [response.headers["X-Request-ID"]]


class TestWithoutLoggingConfigured:
    def test_a_failed_request_shows_a_plain_traceback_without_locals(self, capsys) -> None:
        """With structlog left unconfigured (its default renderer prints rich tracebacks
        with frame locals), the request_failed line still carries the plain traceback, and
        no request header reaches the output."""
        structlog.reset_defaults()
        app = plain_app()
        app.test_client().get("/boom", headers={"Cookie": "session=very-secret-cookie"})
        out = capsys.readouterr().out
        assert "request_failed" in out and "RuntimeError: boom" in out
        assert "Traceback (most recent call last)" in out
        assert "very-secret-cookie" not in out and "locals" not in out.lower()
