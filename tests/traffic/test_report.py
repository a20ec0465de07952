"""The summary: counts by route and status, nearest-rank percentiles, JSON shape."""

from __future__ import annotations

from app.traffic.plan import PlannedRequest
from app.traffic.report import Summary, percentile, status_class
from app.traffic.runner import Result


def result(route: str, status: int | None, ms: float, error: str | None = None) -> Result:
    return Result(0, PlannedRequest("x", route or "/nowhere", route), status, ms / 1000, error)


def add_all(summary: Summary, results: list[Result]) -> None:
    for one in results:
        summary.add(one)


class TestPercentile:
    def test_nearest_rank(self):
        values = [float(v) for v in range(1, 101)]
        assert percentile(values, 0.5) == 50
        assert percentile(values, 0.95) == 95
        assert percentile(values, 0.99) == 99
        assert percentile([7.0], 0.99) == 7.0

    def test_empty(self):
        assert percentile([], 0.5) is None


class TestSummary:
    def test_rows_by_route_and_status(self):
        """One row per (route, status), with its count and percentiles in milliseconds."""
        summary = Summary()
        add_all(summary, [result("/", 200, 1), result("/", 200, 3), result("/", 500, 9),
                         result("", 404, 2)])
        rows = {(row["route"], row["status"]): row for row in summary.rows()}
        assert rows[("/", 200)]["count"] == 2
        assert rows[("/", 200)]["p50_ms"] == 1.0
        assert rows[("/", 500)]["p99_ms"] == 9.0
        assert rows[("", 404)]["count"] == 1

    def test_failures_are_counted_as_errors(self):
        """A request that got no response counts as an error, by exception type."""
        summary = Summary()
        summary.add(result("/", None, 1, "ConnectionRefusedError"))
        data = summary.to_dict(elapsed_s=2.0)
        assert data["errors"] == {"ConnectionRefusedError": 1}
        assert data["by_class"] == {"error": 1}
        assert data["rate_rps"] == 0.5

    def test_status_class(self):
        assert [status_class(s) for s in (200, 302, 404, 503, None)] == [
            "2xx", "3xx", "4xx", "5xx", "error"]

    def test_table_renders(self):
        """The rich table has a row per route and status plus the overall line."""
        summary = Summary()
        add_all(summary, [result("/", 200, 1), result("", 404, 2)])
        table = summary.table("t")
        assert table.row_count == 3
