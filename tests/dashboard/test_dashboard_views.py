"""The dashboard's page and JSON through the Flask test client: numbers, guard, config."""

from __future__ import annotations

import base64

import pytest

from app.config import load_config
from tests.conftest import scrape


def request_counts(client) -> dict[tuple[str, str], float]:
    """``/metrics`` request counts by (route, status), parsed with the real parser."""
    counts = {}
    for (name, pairs), value in scrape(client).items():
        if name == "http_server_request_duration_seconds_count":
            labels = dict(pairs)
            counts[labels["http_route"], labels["http_response_status_code"]] = value
    return counts


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class TestPage:
    def test_page_loads_local_assets_only(self, client):
        """The page links its own script and stylesheet; nothing from another origin."""
        response = client.get("/dashboard")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "/dashboard/static/dashboard.js" in html
        assert "/dashboard/static/dashboard.css" in html
        assert "http://" not in html and "https://" not in html
        with client.get("/dashboard/static/dashboard.js") as script:
            assert script.status_code == 200

    def test_refresh_is_clamped(self, client):
        """``?refresh=`` sets the poll interval, kept between 250 ms and 60 s."""
        assert 'data-refresh-ms="2000"' in client.get("/dashboard").get_data(as_text=True)
        assert 'data-refresh-ms="250"' in client.get("/dashboard?refresh=1").get_data(as_text=True)
        assert 'data-refresh-ms="60000"' in client.get("/dashboard?refresh=99999999").get_data(
            as_text=True)


class TestData:
    def test_numbers_match_metrics(self, client):
        """Totals, statuses and per-route counts are what /metrics recorded."""
        for path in ("/", "/", "/bad", "/users/1", "/users/9", "/no/such/page", "/redirect"):
            client.get(path)
        data = client.get("/dashboard/data.json").get_json()
        counts = request_counts(client)
        assert data["requests"] == sum(counts.values()) == 7
        assert data["by_status"] == {"200": 3, "302": 1, "400": 1, "404": 2}
        assert data["by_class"] == {"2xx": 3, "3xx": 1, "4xx": 3, "5xx": 0}
        per_route = {(row["route"], status): n for row in data["routes"]
                     for status, n in row["by_status"].items()}
        assert per_route == {key: int(value) for key, value in counts.items()}
        assert data["routes"][0]["route"] == "/"  # busiest first
        assert data["in_flight"] == 0
        assert data["error_ratio"] == 0.0

    def test_latency_phases_and_warmup(self, client):
        """Percentiles per route and overall, a mean per phase, and the warm-up state."""
        client.get("/slow?ms=30")
        data = client.get("/dashboard/data.json").get_json()
        slow = next(row for row in data["routes"] if row["route"] == "/slow")
        assert 25 <= slow["p50_ms"] <= 50  # inside the (25 ms, 50 ms] bucket
        assert slow["p50_ms"] <= slow["p95_ms"] <= slow["p99_ms"]
        assert data["latency"]["p99_ms"] == slow["p99_ms"]
        phases = {phase["phase"]: phase for phase in data["phases"]}
        assert list(phases) == ["before_request", "view", "after_request", "teardown"]
        assert phases["view"]["mean_ms"] >= 30
        assert all(phase["count"] == 1 for phase in phases.values())
        assert data["warmup"]["ready"] is True
        assert data["warmup"]["duration_ms"] > 0

    def test_own_requests_are_not_counted(self, client):
        """Polling the dashboard, its assets and /metrics leaves the HTTP metrics unchanged."""
        client.get("/")
        before = request_counts(client)
        for path in ("/dashboard", "/dashboard/data.json", "/dashboard/static/dashboard.js"):
            for _ in range(3):
                with client.get(path) as response:
                    assert response.status_code == 200
        assert request_counts(client) == before
        assert client.get("/dashboard/data.json").get_json()["requests"] == 1

    def test_recent_requests_ring_is_bounded_newest_first(self, make_app):
        """The ring keeps the last DASHBOARD_RECENT_REQUESTS counted requests, newest first."""
        client = make_app(DASHBOARD_RECENT_REQUESTS=5).test_client()
        ids = [client.get(f"/user/u{n}").headers["X-Request-ID"] for n in range(8)]
        client.get("/dashboard/data.json")
        recent = client.get("/dashboard/data.json").get_json()["recent"]
        assert [item["request_id"] for item in recent] == ids[::-1][:5]
        assert recent[0]["route"] == "/user/<name>"
        assert recent[0]["status"] == 200 and recent[0]["method"] == "GET"
        assert recent[0]["duration_ms"] > 0

    def test_failed_request_is_in_the_ring_as_500(self, client):
        """A request whose view raised is recorded in the ring like in the metrics: 500."""
        with pytest.raises(RuntimeError):
            client.get("/boom")
        recent = client.get("/dashboard/data.json").get_json()["recent"]
        assert recent[0]["route"] == "/boom" and recent[0]["status"] == 500

    def test_not_cached(self, client):
        assert client.get("/dashboard/data.json").headers["Cache-Control"] == "no-store"


class TestGuard:
    @pytest.fixture
    def guarded(self, make_app):
        return make_app(HOOKWATCH_METRICS_TOKEN="s3cret").test_client()

    @pytest.mark.parametrize("path", ["/dashboard", "/dashboard/data.json",
                                      "/dashboard/static/dashboard.js"])
    def test_token_required(self, guarded, path):
        """With METRICS_TOKEN set, no token means 401 and a Basic prompt for browsers."""
        with guarded.get(path) as response:
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")

    @pytest.mark.parametrize("headers", [
        {"Authorization": "Bearer s3cret"}, basic("anyone", "s3cret"), basic("", "s3cret"),
    ])
    def test_token_accepted(self, guarded, headers):
        """The token works as a bearer token or as the Basic password."""
        assert guarded.get("/dashboard", headers=headers).status_code == 200
        assert guarded.get("/dashboard/data.json", headers=headers).status_code == 200

    @pytest.mark.parametrize("headers", [
        {"Authorization": "Bearer wrong"}, basic("s3cret", "wrong"), {"Authorization": "s3cret"},
    ])
    def test_wrong_token_refused(self, guarded, headers):
        assert guarded.get("/dashboard/data.json", headers=headers).status_code == 401

    def test_refusals_are_not_counted(self, guarded):
        """Refused dashboard requests do not show up in the HTTP metrics either."""
        guarded.get("/dashboard/data.json")
        data = guarded.get("/dashboard/data.json", headers={"Authorization": "Bearer s3cret"})
        assert data.get_json()["requests"] == 0


class TestConfig:
    def test_off_in_production_by_default(self, make_app):
        app = make_app(**{**load_config("production", {"SECRET_KEY": "k"}), "LOG_FORMAT": "json"})
        assert app.config["DASHBOARD_ENABLED"] is False
        assert app.test_client().get("/dashboard").status_code == 404
        assert app.test_client().get("/dashboard/data.json").status_code == 404

    def test_enabled_in_production_by_environment(self):
        """DASHBOARD_ENABLED=1 turns it on in production; =0 turns it off elsewhere."""
        env = {"SECRET_KEY": "k", "DASHBOARD_ENABLED": "1"}
        assert load_config("production", env)["DASHBOARD_ENABLED"] is True
        assert load_config("development", {"DASHBOARD_ENABLED": "off"})["DASHBOARD_ENABLED"] is False
        assert load_config("development", {})["DASHBOARD_ENABLED"] is True

    def test_production_app_with_dashboard(self, make_app):
        app = make_app(**{**load_config("production", {"SECRET_KEY": "k", "DASHBOARD_ENABLED": "yes"}),
                          "LOG_FORMAT": "json"})
        assert app.test_client().get("/dashboard").status_code == 200
