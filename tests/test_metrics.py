"""Metrics: definitions on an injected registry, label rules, and the /metrics exposition."""

from __future__ import annotations

import subprocess

import pytest
from freezegun import freeze_time
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from app.hookwatch.metrics import DURATION_BUCKETS, HTTP_METHODS, Metrics, method_label
from tests.conftest import require_binary, sample, scrape


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry(), "9.9.9")


class TestMethodLabel:
    @pytest.mark.parametrize("method", sorted(HTTP_METHODS))
    def test_standard_methods_are_kept(self, method: str) -> None:
        """The standard methods label themselves."""
        assert method_label(method) == method

    @pytest.mark.parametrize("method", ["FOO", "PROPFIND", "get", "", "G\x00T"])
    def test_other_methods_share_one_label(self, method: str) -> None:
        """Anything else, lower case included, is _OTHER."""
        assert method_label(method) == "_OTHER"


class TestMetrics:
    def test_record_request_fills_all_http_histograms(self, metrics: Metrics) -> None:
        """One observation lands in duration, request size and response size."""
        metrics.record_request("GET", "/user/<name>", 200, 0.2, 10, 300)
        get = metrics.registry.get_sample_value
        labels = {"http_request_method": "GET", "http_route": "/user/<name>"}
        assert get("http_server_request_duration_seconds_count",
                   {**labels, "http_response_status_code": "200"}) == 1
        assert get("http_server_request_duration_seconds_bucket",
                   {**labels, "http_response_status_code": "200", "le": "0.25"}) == 1
        assert get("http_server_request_duration_seconds_bucket",
                   {**labels, "http_response_status_code": "200", "le": "0.1"}) == 0
        assert get("http_server_request_body_size_bytes_sum", labels) == 10
        assert get("http_server_response_body_size_bytes_sum", labels) == 300

    def test_unknown_response_size_is_not_observed(self, metrics: Metrics) -> None:
        """A streamed response of unknown size is not counted as zero bytes."""
        metrics.record_request("GET", "/", 200, 0.1, 0, None)
        labels = {"http_request_method": "GET", "http_route": "/"}
        assert metrics.registry.get_sample_value("http_server_response_body_size_bytes_count",
                                                 labels) == 0

    def test_precreate_makes_series_start_at_zero(self, metrics: Metrics) -> None:
        """After precreate, the in-flight gauge has a zero series per method and phases exist."""
        metrics.precreate()
        get = metrics.registry.get_sample_value
        for method in (*HTTP_METHODS, "_OTHER"):
            assert get("http_server_active_requests", {"http_request_method": method}) == 0
        assert get("hookwatch_request_phase_duration_seconds_count", {"phase": "teardown"}) == 0

    def test_build_info(self, metrics: Metrics) -> None:
        """hookwatch_build_info carries the version and is 1."""
        families = {f.name: f for f in metrics.registry.collect()}
        [info] = families["hookwatch_build_info"].samples
        assert info.value == 1
        assert info.labels["version"] == "9.9.9"
        assert set(info.labels) == {"version", "python_version", "flask_version"}

    def test_no_created_series_in_the_lesson_app(self, client) -> None:
        """The app factory disables *_created series: dashboards do not use them."""
        client.get("/")
        assert b"_created" not in client.get("/metrics").data


class TestExemplars:
    def test_the_exemplar_keeps_the_time_it_was_recorded(self, metrics: Metrics) -> None:
        """Read later, an exemplar still carries the request's own time."""
        with freeze_time("2026-01-01T00:00:00Z"):
            metrics.record_request("GET", "/", 200, 0.1, 0, 1, {"request_id": "r1"})
        with freeze_time("2026-01-01T00:05:00Z"):
            body, _ = metrics.render("application/openmetrics-text")
        [line] = [line for line in body.decode().splitlines() if 'request_id="r1"' in line]
        assert line.endswith('# {request_id="r1"} 0.1 1767225600.0'), line


class TestExposition:
    def test_names_labels_and_buckets(self, client) -> None:
        """/metrics has DESIGN's metric families with their exact labels and buckets."""
        client.get("/user/ada")
        text = client.get("/metrics").get_data(as_text=True)
        families = {family.name: family for family in text_string_to_metric_families(text)}
        expected = {
            "http_server_request_duration_seconds": ("histogram", {"http_request_method", "http_route", "http_response_status_code"}),
            "http_server_active_requests": ("gauge", {"http_request_method"}),
            "http_server_request_body_size_bytes": ("histogram", {"http_request_method", "http_route"}),
            "http_server_response_body_size_bytes": ("histogram", {"http_request_method", "http_route"}),
            "hookwatch_request_phase_duration_seconds": ("histogram", {"phase"}),
            "hookwatch_exceptions": ("counter", {"http_route", "error_type"}),
            "hookwatch_warmup_duration_seconds": ("gauge", set()),
            "hookwatch_ready": ("gauge", set()),
            "hookwatch_build_info": ("gauge", {"version", "python_version", "flask_version"}),
        }
        for name, (kind, labels) in expected.items():
            family = families[name]
            assert family.type == kind, name
            for item in family.samples:
                assert set(item.labels) - {"le"} == labels, (name, item)
        buckets = sorted({float(s.labels["le"]) for s in families["http_server_request_duration_seconds"].samples
                          if s.name.endswith("_bucket")})
        assert buckets == [*map(float, DURATION_BUCKETS), float("inf")]
        phases = {s.labels["phase"] for s in families["hookwatch_request_phase_duration_seconds"].samples}
        assert phases == {"before_request", "view", "after_request", "teardown"}
        assert "process_cpu_seconds_total" in {s.name for f in families.values() for s in f.samples}
        assert "python_info" in families

    def test_text_is_the_default_format(self, client) -> None:
        """Without an OpenMetrics Accept header the classic text format is served."""
        response = client.get("/metrics")
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")

    def test_openmetrics_carries_request_id_exemplars(self, client) -> None:
        """Asked for OpenMetrics, the duration histogram carries request_id exemplars."""
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        sent = client.get("/user/ada", headers={"X-Request-ID": "exemplar-1",
                                                "traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
        assert sent.status_code == 200
        response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        exemplars = [
            item.exemplar
            for family in parse_om(response.get_data(as_text=True))
            if family.name == "http_server_request_duration_seconds"
            for item in family.samples
            if item.exemplar is not None and item.labels.get("http_route") == "/user/<name>"
        ]
        assert exemplars, "no exemplar on the /user/<name> buckets"
        assert exemplars[0].labels == {"request_id": "exemplar-1", "trace_id": trace}

    def test_token_guards_metrics(self, make_app, logs) -> None:
        """With METRICS_TOKEN set, /metrics needs the bearer token; refusals say how."""
        client = make_app(HOOKWATCH_METRICS_TOKEN="s3cret-token").test_client()
        missing = client.get("/metrics")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Basic s3cret-token"}).status_code == 401
        assert scrape(client, Authorization="Bearer s3cret-token")
        assert "s3cret-token" not in logs.text

    def test_promtool_accepts_the_exposition(self, client) -> None:
        """promtool check metrics finds no problem in the text we serve."""
        promtool = require_binary("promtool")
        for path in ("/", "/user/ada", "/missing", "/bad", "/slow?ms=1"):
            client.get(path)
        body = client.get("/metrics").data
        result = subprocess.run([promtool, "check", "metrics"], input=body,
                                capture_output=True, timeout=30, check=False)
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
        assert sample(scrape(client), "hookwatch_ready") == 1
