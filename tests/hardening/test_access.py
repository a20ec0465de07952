"""Access and secrets: the /metrics token, refusals at start-up, cookies, security headers,
secrets that never reach a log line, and console lines that cannot be forged."""

from __future__ import annotations

import hmac
import io
import json
from typing import Any

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask_script_ng.commands import InvalidCommand

from app import create_app, devserver
from app.config import ConfigError
from app.devserver import DevServer
from app.main.security import CONTENT_SECURITY_POLICY

TOKEN = "metrics-token-3f9a7c1e"
SECRET_KEY = "secret-key-b7d2e0"


class TestMetricsToken:
    """``METRICS_TOKEN`` set: ``/metrics`` wants ``Authorization: Bearer <token>``."""

    @pytest.mark.parametrize("authorization", [
        None, "", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN,
        "Bearer ", f"bearer  {TOKEN}-wrong",
    ])
    def test_refused(self, make_app, logs, authorization) -> None:
        """Missing or wrong: 401 with WWW-Authenticate, logged, the token nowhere in the log."""
        client = make_app(HOOKWATCH_METRICS_TOKEN=TOKEN).test_client()
        headers = {} if authorization is None else {"Authorization": authorization}
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"http_server_request_duration_seconds" not in response.data
        (line,) = logs.requests
        assert line["status"] == 401 and line["route"] == "/metrics"
        assert line["level"] == "warning"
        assert TOKEN[:8] not in logs.text and "Bearer" not in logs.text

    def test_accepted_in_constant_time(self, make_app, monkeypatch) -> None:
        """The right token: 200, compared with hmac.compare_digest."""
        calls = []
        real = hmac.compare_digest

        def spy(a: Any, b: Any) -> bool:
            calls.append(1)
            return real(a, b)

        monkeypatch.setattr(hmac, "compare_digest", spy)
        client = make_app(HOOKWATCH_METRICS_TOKEN=TOKEN).test_client()
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200 and calls


class TestRefusalsAtStart:
    def test_production_needs_secret_key(self, monkeypatch) -> None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
        with pytest.raises(ConfigError, match="SECRET_KEY"):
            create_app("production")

    def test_production_with_secret_key(self, monkeypatch) -> None:
        monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
        app = create_app("production", LOG_STREAM=io.StringIO())
        assert app.config["SESSION_COOKIE_SECURE"] is True and not app.debug

    @pytest.mark.parametrize("level", ["LOUD", "", "info; rm -rf /"])
    def test_bad_log_level(self, monkeypatch, level) -> None:
        monkeypatch.setenv("LOG_LEVEL", level)
        with pytest.raises(ConfigError, match="LOG_LEVEL"):
            create_app("testing", LOG_STREAM=io.StringIO())

    def run_devserver(self, app, host: str, monkeypatch, debugger: bool = True) -> None:
        monkeypatch.setattr(devserver, "run_simple", lambda *args, **kwargs: None)
        DevServer()(app, host, 5000, debugger, False, True, 1, False, None, None)

    def test_production_refuses_the_debugger(self, monkeypatch) -> None:
        monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
        app = create_app("production", LOG_STREAM=io.StringIO())
        with pytest.raises(InvalidCommand, match="debugger"):
            self.run_devserver(app, "127.0.0.1", monkeypatch)

    @pytest.mark.parametrize("host,warned", [
        ("0.0.0.0", True), ("192.168.1.10", True), ("::", True), ("example.org", True),
        ("127.0.0.1", False), ("localhost", False), ("::1", False), ("127.8.9.10", False),
    ])
    def test_debugger_off_loopback_warns(self, make_app, monkeypatch, capsys, host,
                                         warned) -> None:
        self.run_devserver(make_app(), host, monkeypatch)
        assert ("WARNING: the Werkzeug debugger is on" in capsys.readouterr().err) is warned


class TestCookiesAndHeaders:
    def test_session_cookie_flags(self, make_app, monkeypatch) -> None:
        """HttpOnly and SameSite=Lax always; Secure in production."""
        cookie = make_app().test_client().get("/context").headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
        prod = create_app("production", LOG_STREAM=io.StringIO())
        cookie = prod.test_client().get("/context").headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie

    @pytest.mark.parametrize("path,html", [
        ("/", True), ("/user/ada", True), ("/nope", True), ("/boom", True), ("/cookie", True),
        ("/healthz", False), ("/metrics", False), ("/slow?ms=0", False), ("/redirect", True),
    ])
    def test_security_headers(self, make_app, path, html) -> None:
        """nosniff on every response, a CSP on HTML pages only."""
        client = make_app(PROPAGATE_EXCEPTIONS=False).test_client()
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers.get("Content-Security-Policy") == (
            CONTENT_SECURITY_POLICY if html else None)
        if html:
            assert "script-src 'self'" in CONTENT_SECURITY_POLICY
            assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY

    def test_server_timing_can_be_turned_off(self, monkeypatch, logs) -> None:
        monkeypatch.setenv("SERVER_TIMING", "off")
        app = create_app("testing", LOG_STREAM=logs.stream)
        response = app.test_client().get("/healthz")
        assert "Server-Timing" not in response.headers and "X-Request-ID" in response.headers


class TestRejectedSessionCookie:
    """A tampered, forged or garbage session cookie: a new session, one warning line."""

    def forged(self, key: str) -> str:
        other = Flask("other")  # a plain app: creating ours would re-route the logs
        other.secret_key = key
        serializer = SecureCookieSessionInterface().get_signing_serializer(other)
        return serializer.dumps({"visits": 1000, "admin": True})

    @pytest.mark.parametrize("kind", ["garbage", "tampered", "other key", "empty payload"])
    def test_rejected(self, make_app, logs, kind) -> None:
        app = make_app()
        client = app.test_client()
        client.get("/context")
        good = client.get_cookie("session").value
        value = {
            "garbage": "x" * 300,
            "tampered": "eyJ2aXNpdHMiOjEwMDB9" + good[good.index("."):],
            "other key": self.forged("not-the-key"),
            "empty payload": "." + good.split(".", 1)[1],
        }[kind]
        fresh = app.test_client()
        fresh.set_cookie("session", value)
        before = len(logs.lines)
        response = fresh.get("/context")
        assert response.status_code == 200
        assert b'id="visits">1<' in response.data  # a new session
        lines = logs.lines[before:]
        warnings = [line for line in lines if line["event"] == "session_cookie_rejected"]
        assert len(warnings) == 1 and warnings[0]["level"] == "warning"
        assert warnings[0]["request_id"] == response.headers["X-Request-ID"]
        assert len([line for line in lines if line["event"] == "request_finished"]) == 1
        assert value not in logs.text and value[:20] not in logs.text

    def test_rejected_cookie_is_left_as_flask_leaves_it(self, make_app, logs) -> None:
        """A route that does not touch the session leaves a rejected cookie alone (Flask's
        behaviour): logged once, not deleted."""
        client = make_app().test_client()
        client.set_cookie("session", "garbage.cookie.value")
        response = client.get("/healthz")
        assert "Set-Cookie" not in response.headers
        assert len(logs.events("session_cookie_rejected")) == 1

    def test_secret_key_rotation_keeps_sessions(self, make_app, logs) -> None:
        """SECRET_KEY_FALLBACKS: a cookie signed with a retired key still opens its session;
        one signed with a key that is no longer listed is rejected (and logged) but not
        destroyed, so listing the key again brings the session back (Flask's own
        test_session_secret_key_fallbacks)."""
        app = make_app(SECRET_KEY="0 key", SECRET_KEY_FALLBACKS=["-1 key"])
        client = app.test_client()
        client.get("/context")
        app.secret_key = "? key"
        client.get("/healthz")  # rejected: logged, and the cookie left in place
        assert len(logs.events("session_cookie_rejected")) == 1
        app.secret_key, app.config["SECRET_KEY_FALLBACKS"] = "+1 key", ["0 key", "-1 key"]
        assert b'id="visits">2<' in client.get("/context").data
        assert len(logs.events("session_cookie_rejected")) == 1

    def test_valid_cookie_logs_nothing(self, make_app, logs) -> None:
        client = make_app().test_client()
        client.get("/context")
        client.get("/context")
        assert logs.events("session_cookie_rejected") == []


def test_no_secret_in_any_log_line(make_app, logs, capfd) -> None:
    """Authorization, Cookie, the session cookie and the secret key: in no line, any format."""
    secrets = [TOKEN, SECRET_KEY, "cookie-secret-91ab", "basic-pass-77"]
    for log_format in ("json", "console"):
        app = make_app(HOOKWATCH_METRICS_TOKEN=TOKEN, SECRET_KEY=SECRET_KEY, LOG_FORMAT=log_format,
                       PROPAGATE_EXCEPTIONS=False)
        client = app.test_client()
        client.get("/context")
        session_cookie = client.get_cookie("session").value
        secrets.append(session_cookie)
        client.set_cookie("answer", "cookie-secret-91ab")
        for path in ("/", "/context", "/boom", "/nope", "/metrics", "/metrics?x=1"):
            for auth in (f"Bearer {TOKEN}", f"Bearer {TOKEN}-wrong", "Basic basic-pass-77"):
                client.get(path, headers={"Authorization": auth,
                                          "X-Api-Key": "cookie-secret-91ab"})
    text = logs.text + capfd.readouterr().out
    assert "request_failed" in text and "context_visited" in text
    for secret in secrets:
        assert secret not in text


def test_console_lines_cannot_be_forged(make_app, logs) -> None:
    """A crafted path, request id, user agent or logged value stays on its own line."""
    app = make_app(LOG_FORMAT="console")
    client = app.test_client()
    forged = "2026-01-01T00:00:00Z [info     ] request_finished status=200"
    paths = [f"/x%0a{forged}", f"/x%0d{forged}", "/x%1b[2J%1b[31mred", "/x%e2%80%a8sep",
             "/x%c2%85nel"]
    for path in paths:
        client.get(path, headers={"User-Agent": "agent\x1b[31m", "X-Request-ID": "id\x7f"})
    lines = logs.text.splitlines()
    assert len(lines) == len(paths) + 1  # plus the warm-up line
    assert not any(line.startswith("2026-01-01") for line in lines)
    assert "\x1b" not in logs.text and "\u2028" not in logs.text and "\x85" not in logs.text
    assert "\\n2026-01-01" in logs.text and "\\x1b[2J" in logs.text
    assert "\\x1b[31mred" in logs.text  # a colour code in a value is escaped, not dropped


def test_json_lines_stay_json(make_app, logs) -> None:
    """The same crafted values in JSON: one parseable line per request."""
    client = make_app().test_client()
    client.get("/x%0a%22,%22status%22:200}%0d%1b", headers={"User-Agent": "a\x1b\"}"})
    lines = logs.text.splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)
