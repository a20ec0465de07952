"""Logging set-up: console lines in development, JSON lines in production, one pipeline."""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import re
from pathlib import Path

import pytest
import structlog
from freezegun import freeze_time

from app import create_app
from app.config import ConfigError
from app.hookwatch.logs import configure_logging, get_logger, json_dumps


class TestConfigureLogging:
    def test_json_lines_from_structlog_and_stdlib(self) -> None:
        """Both structlog events and stdlib records become one JSON object per line."""
        stream = io.StringIO()
        configure_logging("json", "INFO", stream)
        structlog.contextvars.bind_contextvars(request_id="r1")
        get_logger().info("hello", answer=42)
        logging.getLogger("werkzeug").warning("from %s", "werkzeug")
        structlog.contextvars.clear_contextvars()
        first, second = (json.loads(line) for line in stream.getvalue().splitlines())
        assert first["event"] == "hello" and first["answer"] == 42
        assert first["request_id"] == second["request_id"] == "r1"
        assert first["logger"] == "hookwatch" and second["logger"] == "werkzeug"
        assert second["event"] == "from werkzeug" and second["level"] == "warning"
        assert first["timestamp"].endswith("Z")

    def test_console_lines_are_readable(self) -> None:
        """Development output is one human-readable line per event, not JSON."""
        stream = io.StringIO()
        configure_logging("console", "INFO", stream)
        get_logger().warning("request_finished", status=404, route="/x")
        [line] = stream.getvalue().splitlines()
        assert "request_finished" in line and "status=404" in line and "warn" in line
        assert not line.startswith("{")

    def test_level_filters_both_paths(self) -> None:
        """LOG_LEVEL applies to structlog events and stdlib records alike."""
        stream = io.StringIO()
        configure_logging("json", "WARNING", stream)
        get_logger().info("quiet")
        logging.getLogger("lib").info("quiet too")
        get_logger().error("loud")
        assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["loud"]

    def test_reconfiguring_does_not_double_lines(self) -> None:
        """Creating a second app replaces our handler instead of adding another."""
        first, second = io.StringIO(), io.StringIO()
        configure_logging("json", "INFO", first)
        configure_logging("json", "INFO", second)
        logging.getLogger("lib").warning("once")
        assert first.getvalue() == ""
        assert len(second.getvalue().splitlines()) == 1


class TestJsonDumps:
    @pytest.mark.parametrize("fields", [
        {"request_id": "a" * 32, "status": 200, "duration_ms": 0.125, "response_bytes": None},
        {"path": "/tab\there\x00", "quote": 'say "hi"', "big": 2**63 - 1, "negative": -1.5e-7},
        {"path": "/user/ad\u00e9"},  # non-ASCII: escaped, as json.dumps does
        {"path": "/bad\ud800"},  # a lone surrogate orjson refuses
        {"big": 2**70},  # beyond 64 bits
        {1: "non-string key"},
    ])
    def test_reads_back_as_json_dumps_writes_it(self, fields) -> None:
        """Whatever the value, the line is ASCII and parses to what json.dumps would give."""
        line = json_dumps(fields)
        assert line.isascii()
        assert json.loads(line) == json.loads(json.dumps(fields))

    def test_the_renderers_fallback_writes_what_json_cannot(self) -> None:
        """A date goes through the JSON renderer's fallback instead of failing the line."""
        renderer = structlog.processors.JSONRenderer(serializer=json_dumps)
        assert "2026" in json.loads(renderer(None, "info", {"at": datetime.date(2026, 1, 1)}))["at"]


class TestCapturedByStructlog:
    def test_capture_logs_sees_the_request_line(self, client) -> None:
        """The request line goes through structlog's pipeline, so its testing helper sees
        it like any other line."""
        client.get("/")  # warm up first
        with structlog.testing.capture_logs() as captured:
            response = client.get("/user/ada")
        [line] = captured
        assert (line["event"], line["log_level"], line["route"], line["request_id"]) == (
            "request_finished", "info", "/user/<name>", response.headers["X-Request-ID"])


class TestAppLogFormats:
    def test_production_logs_json(self, monkeypatch) -> None:
        """HOOKWATCH_CONFIG=production writes JSON lines, one per request."""
        monkeypatch.setenv("SECRET_KEY", "k")
        stream = io.StringIO()
        app = create_app("production", LOG_STREAM=stream)
        app.test_client().get("/")
        events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
        assert events == ["app_warmup_finished", "request_finished"]

    def test_log_level_filters_the_request_line(self, monkeypatch) -> None:
        """LOG_LEVEL=WARNING drops a 200's info line but keeps a 404's warning, with every
        field, the level and a microsecond UTC timestamp."""
        monkeypatch.setenv("SECRET_KEY", "k")
        stream = io.StringIO()
        client = create_app("production", LOG_LEVEL="WARNING", LOG_STREAM=stream).test_client()
        client.get("/")
        client.get("/no-such-page")
        [line] = (json.loads(text) for text in stream.getvalue().splitlines())
        assert (line["event"], line["level"], line["status"]) == ("request_finished", "warning", 404)
        assert line["logger"] == "hookwatch" and line["path"] == "/no-such-page"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", line["timestamp"])

    def test_file_stream_keeps_every_line_whole_and_in_order(self, monkeypatch, tmp_path) -> None:
        """To a real file, the request line and the lines of structlog, stdlib logging and a
        plain print all arrive whole, in order."""
        monkeypatch.setenv("SECRET_KEY", "k")
        path = tmp_path / "requests.log"
        with open(path, "a", encoding="utf-8") as stream:
            app = create_app("production", LOG_STREAM=stream)

            def view() -> str:
                logging.getLogger("view").warning("before the request line")
                get_logger().info("structlog too")
                print("printed", file=stream)  # buffered in the stream, not flushed
                return "ok"

            app.add_url_rule("/logged", "logged", view)
            client = app.test_client()
            for _ in range(3):
                client.get("/logged")
        events = [json.loads(line)["event"] if line.startswith("{") else line
                  for line in path.read_text().splitlines()]
        assert events == ["app_warmup_finished"] + [
            "before the request line", "structlog too", "printed", "request_finished"] * 3

    @pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "latin-1", "ascii"])
    @pytest.mark.parametrize("log_format", ["json", "console"])
    def test_file_in_any_encoding_gets_its_own_text(self, monkeypatch, tmp_path, encoding,
                                                    log_format) -> None:
        """Whatever the stream's encoding, the file reads back in that encoding (UTF-16 gets
        one byte-order mark, not one per line; ASCII escapes what it cannot write)."""
        monkeypatch.setenv("SECRET_KEY", "k")
        path = tmp_path / "requests.log"
        with open(path, "w", encoding=encoding, errors="backslashreplace") as stream:
            client = create_app("production", LOG_FORMAT=log_format,
                                LOG_STREAM=stream).test_client()
            client.get("/user/ad\u00e9")
            client.get("/")
        lines = path.read_text(encoding=encoding).splitlines()
        assert len(lines) == 3
        if log_format == "json":
            paths = [json.loads(line).get("path") for line in lines]
            assert paths == [None, "/user/ad\u00e9", "/"]
        else:
            expected = "ad\\xe9" if encoding == "ascii" else "ad\u00e9"
            assert expected in lines[1] and "request_finished" in lines[1]

    def test_log_format_env_switches_development_to_json(self, monkeypatch) -> None:
        """LOG_FORMAT=json turns the development console into JSON lines."""
        monkeypatch.setenv("LOG_FORMAT", "json")
        stream = io.StringIO()
        create_app("development", LOG_STREAM=stream).test_client().get("/healthz")
        assert json.loads(stream.getvalue().splitlines()[-1])["route"] == "/healthz"

    def test_development_logs_console(self) -> None:
        """The development default is readable console lines."""
        stream = io.StringIO()
        create_app("development", LOG_STREAM=stream).test_client().get("/healthz")
        last = stream.getvalue().splitlines()[-1]
        assert "request_finished" in last and "route=/healthz" in last


class TestLogFile:
    @pytest.fixture
    def opened(self):
        """Apps that opened a LOG_FILE; their files are closed after the test, once logging
        points elsewhere."""
        apps: list = []
        yield apps
        configure_logging("json", "INFO", io.StringIO())
        for app in apps:
            app.extensions["log_file"].close()

    @pytest.fixture
    def log_file(self, monkeypatch, tmp_path) -> Path:
        """LOG_FILE set to a file in the test's directory, not created yet."""
        path = tmp_path / "hookwatch.log"
        monkeypatch.setenv("LOG_FILE", str(path))
        return path

    def test_lines_are_appended_to_the_file_and_not_to_stdout(self, log_file, capfd,
                                                              opened) -> None:
        """With LOG_FILE set, every line (warm-up, structlog, stdlib, the request line) is
        appended to that file, after what it held; stdout gets none."""
        log_file.write_text("kept\n")
        app = create_app("production", SECRET_KEY="k")
        opened.append(app)

        def view() -> str:
            logging.getLogger("view").warning("stdlib")
            get_logger().info("structlog")
            return "ok"

        app.add_url_rule("/logged", "logged", view)
        response = app.test_client().get("/logged")
        first, *rest = log_file.read_text().splitlines()
        events = [json.loads(line) for line in rest]
        assert first == "kept"
        assert [event["event"] for event in events] == [
            "app_warmup_finished", "stdlib", "structlog", "request_finished"]
        assert {event["request_id"] for event in events} == {response.headers["X-Request-ID"]}
        assert capfd.readouterr().out == ""

    def test_a_file_truncated_in_place_is_written_from_its_start(self, log_file,
                                                               opened) -> None:
        """logrotate's copytruncate empties the file under the running app: the next lines
        start the file again, with no hole of NUL bytes where the old ones were."""
        app = create_app("production", SECRET_KEY="k")
        opened.append(app)
        client = app.test_client()
        client.get("/")
        os.truncate(log_file, 0)
        get_logger().info("after_rotation")
        client.get("/")
        data = log_file.read_bytes()
        assert b"\0" not in data
        assert [json.loads(line)["event"] for line in data.splitlines()] == [
            "after_rotation", "request_finished"]

    def test_text_utf8_cannot_encode_is_escaped_not_lost(self, log_file, opened) -> None:
        """A console line holding a lone surrogate (no UTF-8 for it) is written, escaped."""
        opened.append(create_app("development"))
        get_logger().info("odd", value="a\ud800b")
        assert "value=a\\ud800b" in log_file.read_text()

    def test_a_stream_given_to_the_factory_wins(self, log_file) -> None:
        """LOG_STREAM (tests, benchmarks) takes precedence; the file is not even created."""
        stream = io.StringIO()
        app = create_app("production", SECRET_KEY="k", LOG_STREAM=stream)
        app.test_client().get("/")
        assert "request_finished" in stream.getvalue()
        assert not log_file.exists() and "log_file" not in app.extensions

    @pytest.mark.parametrize("where", ["missing directory", "a directory"])
    def test_a_file_that_cannot_be_opened_is_refused_at_start(self, monkeypatch, tmp_path,
                                                               where) -> None:
        """The app does not start, and the error names the variable and the path."""
        path = tmp_path / "no-such-dir" / "x.log" if where == "missing directory" else tmp_path
        monkeypatch.setenv("LOG_FILE", str(path))
        with pytest.raises(ConfigError, match=rf"^LOG_FILE '{re.escape(str(path))}' cannot be"
                                              r" opened for appending: \w"):
            create_app("production", SECRET_KEY="k")


class TestConsoleTracebacks:
    def test_console_traceback_shows_no_locals(self, make_app) -> None:
        """A failed request's console traceback never prints frame locals (the environ with
        its cookies); only the plain traceback."""
        import io

        stream = io.StringIO()
        app = make_app(LOG_FORMAT="console", LOG_STREAM=stream, PROPAGATE_EXCEPTIONS=False)
        app.test_client().get("/boom", headers={"Cookie": "session=very-secret-cookie"})
        text = stream.getvalue()
        assert "RuntimeError: boom" in text
        assert "very-secret-cookie" not in text
        assert "locals" not in text


class TestConsoleEscaping:
    def test_colours_dropped_other_controls_escaped(self) -> None:
        """Colour codes vanish (werkzeug's banner stays readable), a newline or a cursor
        command is written as an escape, so one event stays one line."""
        stream = io.StringIO()
        configure_logging("console", "INFO", stream)
        logging.getLogger("werkzeug").info("\x1b[31m\x1b[1mWARNING\x1b[0m\n * Running\x1b[2J")
        [line] = stream.getvalue().splitlines()
        assert "WARNING\\n * Running\\x1b[2J" in line
        assert "[31m" not in line and "\x1b" not in line
