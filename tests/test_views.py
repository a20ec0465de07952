"""The lesson routes, the context lesson and the error pages."""

from __future__ import annotations

import pytest
from flask import current_app
from werkzeug.exceptions import NotFound

from tests.conftest import sample, scrape


class TestLessons:
    def test_hello_world(self, client) -> None:
        """/ renders the hello world template."""
        response = client.get("/")
        assert response.status_code == 200
        assert b"<h1>Hello World!</h1>" in response.data

    def test_user_name_is_escaped(self, client) -> None:
        """/user/<name> greets by name, with markup escaped rather than run."""
        response = client.get("/user/<img src=x onerror=alert(1)>")
        assert response.status_code == 200
        assert b"Hello, &lt;img src=x onerror=alert(1)&gt;!" in response.data
        assert b"<img src=x" not in response.data
        assert client.get("/user/ada").data.count(b"Hello, ada!") == 1

    def test_browser_shows_user_agent(self, client) -> None:
        """/browser reads the User-Agent from the request, escaped."""
        response = client.get("/browser", headers={"User-Agent": "Lynx/2.9 <b>"})
        assert b"Lynx/2.9 &lt;b&gt;" in response.data

    def test_context_globals_and_session_counter(self, client) -> None:
        """/context shows current_app, g, request and a visit counter kept in the session."""
        first = client.get("/context", headers={"X-Request-ID": "lesson-1"})
        assert client.post("/context").status_code == 405  # /context is GET only
        assert b'id="app-name">app<' in first.data
        assert b'id="request-id">lesson-1<' in first.data
        assert b'id="method">GET<' in first.data
        assert b'id="visits">1<' in first.data
        third = client.get("/context")
        assert b'id="visits">2<' in third.data

    def test_bad_returns_400(self, client) -> None:
        """A status code given as the second value of the returned tuple."""
        assert client.get("/bad").status_code == 400

    def test_cookie(self, client) -> None:
        """make_response lets the view set the cookie answer=42."""
        response = client.get("/cookie")
        assert response.status_code == 200
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("answer=42;")
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert client.get_cookie("answer").value == "42"

    def test_redirect(self, client) -> None:
        """/redirect sends the client back to /."""
        response = client.get("/redirect")
        assert response.status_code == 302
        assert response.headers["Location"] == "/"
        assert client.get("/redirect", follow_redirects=True).request.path == "/"

    def test_known_and_unknown_users(self, client) -> None:
        """/users/<int:user_id> shows a known user and aborts with 404 for others."""
        assert b"Ada Lovelace" in client.get("/users/1").data
        missing = client.get("/users/99", headers={"Accept": "application/json"})
        assert missing.status_code == 404
        assert missing.json["message"] == "There is no user with id 99."
        assert client.get("/users/not-a-number").status_code == 404

    def test_slow_sleeps_the_asked_time(self, client) -> None:
        """/slow?ms=N answers after N ms and says so."""
        response = client.get("/slow?ms=20")
        assert response.json == {"slept_ms": 20}
        assert float(response.headers["Server-Timing"].split("view;dur=")[1].split(",")[0]) >= 20

    @pytest.mark.parametrize(
        "query", ["ms=abc", "ms=-1", "ms=1.5", "ms=5001", "ms=99999999999999999999", "ms=",
                  "ms=1&ms=2", "ms=%C2%B2"],
    )
    def test_slow_refuses_bad_values_clearly(self, client, query: str) -> None:
        """Non-integer, out-of-range, empty and repeated ms values are a 400 that says why."""
        response = client.get(f"/slow?{query}", headers={"Accept": "application/json"})
        assert response.status_code == 400
        assert "ms" in response.json["message"]
        assert "/slow?ms=250" in response.json["message"]

    def test_health_and_readiness(self, client) -> None:
        """/healthz answers while the process lives; /readyz once warmed up."""
        assert client.get("/healthz").json == {"status": "ok"}
        assert client.get("/readyz").json == {"status": "ready"}


class TestBoom:
    def test_boom_raises(self, client) -> None:
        """/boom raises; in testing the exception propagates to the caller."""
        with pytest.raises(RuntimeError):
            client.get("/boom")


class TestContexts:
    def test_app_context_push_and_pop(self, app) -> None:
        """The classic lesson: current_app works only while an app context is pushed."""
        app_ctx = app.app_context()
        app_ctx.push()
        try:
            assert current_app.name == "app"
        finally:
            app_ctx.pop()
        with pytest.raises(RuntimeError, match="application context"):
            current_app.name

    def test_request_context_has_no_side_effects(self, app, logs) -> None:
        """A request context pushed by hand (as a shell does) logs and counts nothing."""
        with app.test_request_context("/"):
            pass
        assert logs.requests == []
        client = app.test_client()
        samples = scrape(client)
        assert sample(samples, "http_server_request_duration_seconds_count",
                      http_request_method="GET", http_route="/",
                      http_response_status_code="200") is None


class TestErrorPages:
    @pytest.mark.parametrize(
        ("accept", "kind"),
        [("application/json", "json"), ("text/html", "html"), (None, "html"),
         ("application/json;q=0.5, text/html", "html"), ("*/*", "html")],
    )
    def test_error_format_follows_accept(self, client, accept, kind) -> None:
        """JSON when the client prefers it, HTML otherwise; both carry the request id."""
        headers = {"Accept": accept} if accept else {}
        response = client.get("/missing", headers=headers)
        assert response.status_code == 404
        request_id = response.headers["X-Request-ID"]
        if kind == "json":
            assert response.json == {"error": "Not Found", "status": 404,
                                     "message": NotFound.description,
                                     "request_id": request_id}
        else:
            assert response.mimetype == "text/html"
            assert b"404 Not Found" in response.data
            assert request_id.encode() in response.data

    def test_500_page_without_propagation(self, make_app) -> None:
        """The unhandled-exception 500 uses the same JSON/HTML error page."""
        client = make_app(PROPAGATE_EXCEPTIONS=False).test_client()
        response = client.get("/boom", headers={"Accept": "application/json"})
        assert response.status_code == 500
        assert response.json["error"] == "Internal Server Error"

    def test_405_keeps_allow_header(self, client) -> None:
        """Error pages keep the headers HTTP requires, such as Allow on a 405."""
        response = client.post("/")
        assert response.status_code == 405
        assert "GET" in response.headers["Allow"]
