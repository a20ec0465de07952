"""The dashboard's numbers from a metrics registry, without Flask."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry

from app.dashboard.snapshot import histogram_quantile, snapshot
from app.hookwatch.metrics import Metrics


class TestHistogramQuantile:
    def test_interpolates_inside_a_bucket(self):
        """Like PromQL: linear inside the bucket where the rank falls."""
        buckets = {0.1: 50.0, 0.2: 100.0, math.inf: 100.0}
        assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
        assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)
        assert histogram_quantile(0.25, buckets) == pytest.approx(0.05)

    def test_rank_in_the_inf_bucket_answers_the_largest_finite_bound(self):
        assert histogram_quantile(0.99, {1.0: 1.0, math.inf: 10.0}) == 1.0

    def test_empty(self):
        assert histogram_quantile(0.5, {}) is None
        assert histogram_quantile(0.5, {1.0: 0.0, math.inf: 0.0}) is None


class TestSnapshot:
    @pytest.fixture
    def metrics(self) -> Metrics:
        metrics = Metrics(CollectorRegistry(), "test")
        metrics.precreate()
        for route, status, seconds, phases in [
            ("/", 200, 0.002, ()), ("/", 200, 0.004, ()),
            ("/boom", 500, 0.03, (0.001, 0.01, 0.001)), ("", 404, 0.001, ()),
        ]:
            metrics.record_request("GET", route, status, seconds, 0, 10, phases=phases)
        metrics.count_exception("/boom", "RuntimeError")
        metrics.active_for("GET").inc()
        return metrics

    def test_totals(self, metrics):
        data = snapshot(metrics.registry.collect(), [], now=123.0, pid=1)
        assert data["generated"] == 123.0 and data["pid"] == 1
        assert data["requests"] == 4
        assert data["by_status"] == {"200": 2, "404": 1, "500": 1}
        assert data["errors_5xx"] == 1 and data["error_ratio"] == 0.25
        assert data["exceptions"] == 1
        assert data["in_flight"] == 1
        assert data["warmup"] == {"ready": False, "duration_ms": None}

    def test_routes_and_phases(self, metrics):
        data = snapshot(metrics.registry.collect(), [], now=0.0)
        routes = {row["route"]: row for row in data["routes"]}
        assert routes["/"]["requests"] == 2 and routes["/"]["mean_ms"] == pytest.approx(3.0)
        assert routes["/boom"]["errors_5xx"] == 1
        assert 25 <= routes["/boom"]["p50_ms"] <= 50
        view = next(p for p in data["phases"] if p["phase"] == "view")
        assert view == {"phase": "view", "count": 1, "total_s": 0.01, "mean_ms": 10.0}

    def test_recent_newest_first(self, metrics):
        ring = [(1.0, "a", "GET", "/", 200, 0.001), (2.0, "b", "GET", "/boom", 500, 0.002)]
        recent = snapshot(metrics.registry.collect(), ring, now=0.0)["recent"]
        assert [item["request_id"] for item in recent] == ["b", "a"]
        assert recent[0] == {"time": 2.0, "request_id": "b", "method": "GET", "route": "/boom",
                             "status": 500, "duration_ms": 2.0}
