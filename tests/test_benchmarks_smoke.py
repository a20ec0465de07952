"""A short run of the benchmarks, so ``make bench`` keeps working; no timing assertions."""

from __future__ import annotations

import json

import pytest
import structlog
from prometheus_client import CollectorRegistry

from benchmarks import apps, inprocess, loopback, production, profile, scrape
from benchmarks.__main__ import (END, START, cost_figures, inprocess_markdown,
                                 production_markdown, run_inprocess, scrape_markdown,
                                 update_doc)
from tests.conftest import require_binary

NAMES = list(apps.VARIANTS)


class TestVariants:
    def test_every_variant_serves_the_same_views(self, tmp_path) -> None:
        """The same status and body for each variant; only the instrumented ones add their
        headers (hookwatch: X-Request-ID and Server-Timing)."""
        bodies = {}
        for name in NAMES:
            app = apps.build(name, CollectorRegistry(), str(tmp_path / f"{name}.log"))
            response = app.test_client().get("/user/ada")
            apps.close_logs(app)
            assert response.status_code == 200
            bodies[name] = response.data
            assert ("X-Request-ID" in response.headers) == (name == "hookwatch")
            assert ("Server-Timing" in response.headers) == (name == "hookwatch")
        assert len(set(bodies.values())) == 1

    def test_hookwatch_counts_in_the_registry_it_was_given(self, tmp_path) -> None:
        """The count check reads the registry passed to ``Hookwatch``, the one the app's
        extension names."""
        registry = CollectorRegistry()
        app = apps.hookwatch(str(tmp_path / "requests.log"), registry)
        app.test_client().get("/")
        apps.close_logs(app)
        assert app.extensions["hookwatch"].metrics.registry is registry
        assert inprocess.count_requests("hookwatch", registry, "/") == 1

    def test_the_diy_access_line(self, tmp_path) -> None:
        """exporter+structlog writes one JSON line per request with the fields a user would
        log, counted by the exporter, and leaves structlog's global configuration alone."""
        before = structlog.get_config()
        registry = CollectorRegistry()
        app = apps.exporter_structlog(registry, str(tmp_path / "access.log"))
        client = app.test_client()
        client.get("/")
        client.get("/user/ada")
        assert structlog.get_config() == before
        apps.close_logs(app)
        lines = [json.loads(line) for line in
                 (tmp_path / "access.log").read_text(encoding="utf-8").splitlines()]
        assert [(line["method"], line["path"], line["status"]) for line in lines] == [
            ("GET", "/", 200), ("GET", "/user/ada", 200)]
        for line in lines:
            assert line["event"] == "request_finished" and line["level"] == "info"
            assert line["duration_ms"] >= 0 and len(line["request_id"]) == 36
            assert line["timestamp"].endswith("Z")
        assert len({line["request_id"] for line in lines}) == 2
        assert inprocess.count_requests(apps.DIY, registry, "/user/<name>") == 1


class TestInProcess:
    @pytest.mark.parametrize("clock", list(inprocess.CLOCKS))
    def test_every_request_is_counted_and_logged(self, tmp_path, clock) -> None:
        """A tiny run by either clock: each variant answers, each instrumented one counts
        every call in its registry, and the ones that log wrote one request line per call."""
        table, problems = run_inprocess(NAMES, str(tmp_path), rounds=2, slices=2, calls=5,
                                        warmup_calls=3, clock=clock)
        assert problems == []
        assert set(table) == {"/", "/user/<name>"}
        for row in table.values():
            assert list(row) == NAMES
            assert all(cell["median_us"] > 0 and len(cell["rounds_us"]) == 2
                       for cell in row.values())
            assert all(cell["requests"] == 3 + 2 * 2 * 5 for cell in row.values())
            assert "added_ratio" in row["hookwatch"]
        assert "exporter+structlog's" in inprocess_markdown(table)
        assert [line.split(":")[0] for line in cost_figures(table)] == ["`/`", "`/user/<name>`"]

    def test_a_lost_count_or_line_is_a_problem(self, tmp_path, monkeypatch) -> None:
        """The check reads each registry and log file: one request the metrics missed, and
        one the log missed, are both reported."""
        real = inprocess.count_requests
        monkeypatch.setattr(inprocess, "count_requests",
                            lambda kind, registry, rule: real(kind, registry, rule) - (
                                kind == "exporter" and rule == "/"))
        monkeypatch.setattr(inprocess, "count_request_lines", lambda path: 0)
        _, problems = run_inprocess(NAMES, str(tmp_path), rounds=1, slices=1, calls=2,
                                    warmup_calls=1)
        assert problems == ["exporter /: sent 3, counted 2.0",
                            "hookwatch: sent 6, 0 request lines",
                            "exporter+structlog: sent 6, 0 request lines"]

    def test_a_round_the_whole_machine_slowed_keeps_its_ratio(self) -> None:
        """Ratios pair each round with bare's same round: rounds in which the CPU ran at half
        speed for every variant do not move them, though they move the medians."""
        bare = [100e-6, 200e-6, 100e-6, 200e-6, 200e-6]
        variant = [120e-6, 240e-6, 120e-6, 240e-6, 240e-6]
        assert inprocess.ratio(variant, bare) == pytest.approx(1.2)
        assert inprocess.added_us(variant, bare) == pytest.approx(40.0)  # the median of 20s, 40s
        # A round slowed for the variant alone moves the ratio of the medians (250 / 125 = 2),
        # not the median of the rounds' own ratios.
        bare, variant = [100e-6, 200e-6, 125e-6], [110e-6, 220e-6, 250e-6]
        assert inprocess.ratio(variant, bare) == pytest.approx(1.1)

    def test_added_time_ratio_is_the_median_of_each_rounds_own(self) -> None:
        """Each round: (hookwatch - bare) / (diy - bare) of that round; the median of those,
        not the ratio of the medians."""
        us = 1e-6
        bare = [100 * us, 110 * us, 90 * us]
        hookwatch = [150 * us, 154 * us, 135 * us]  # adds 50, 44, 45
        diy = [200 * us, 150 * us, 115 * us]  # adds 100, 40, 25
        assert inprocess.added_ratio(hookwatch, diy, bare) == pytest.approx(44 / 40)
        assert inprocess.added_ratio([1.0], [1.0], [1.0]) == float("inf")

    def test_summary_and_cost_figures(self) -> None:
        us = 1e-6
        cells = {}
        for label, _, _ in inprocess.ROUTES:
            cells["bare", label] = inprocess.Cell([100 * us, 200 * us, 100 * us])
            cells["hookwatch", label] = inprocess.Cell([130 * us, 260 * us, 150 * us])
            cells[apps.DIY, label] = inprocess.Cell([160 * us, 320 * us, 150 * us])
        sent = {key: 10 for key in cells}
        table = inprocess.summarise(cells, sent, apps.DIY)
        cell = table["/"]["hookwatch"]
        assert cell["ratio"] == pytest.approx(1.3)
        assert (cell["ratio_min"], cell["ratio_max"]) == pytest.approx((1.3, 1.5))
        assert cell["added_us"] == pytest.approx(50)  # the median of 30, 60, 50
        assert cell["added_ratio"] == pytest.approx(0.5)  # the median of 0.5, 0.5, 1.0
        assert "added_ratio" not in table["/"][apps.DIY]
        assert cost_figures(table)[0] == ("`/`: hookwatch 1.30× bare (target ≤ 1.40×: met); "
                                          "its added time 0.50× exporter+structlog's "
                                          "(target ≤ 0.80×: met)")


class TestDoc:
    def test_only_the_generated_section_is_replaced(self, tmp_path) -> None:
        doc = tmp_path / "performance.md"
        doc.write_text(f"intro\n{START}\nold\n{END}\noutro\n", encoding="utf-8")
        assert update_doc("new", doc)
        assert doc.read_text(encoding="utf-8") == f"intro\n{START}\nnew\n{END}\noutro\n"
        (tmp_path / "plain.md").write_text("no markers\n", encoding="utf-8")
        assert not update_doc("new", tmp_path / "plain.md")


class TestProfile:
    def test_time_is_grouped_by_library(self) -> None:
        """A tiny run: each variant's time lands in its libraries' groups, and the table
        gives each instrumented variant's difference from bare."""
        result = profile.breakdown(calls=40, slices=4)
        groups = result["groups"]
        assert list(groups) == ["bare", "hookwatch", apps.DIY]
        assert list(result["added"]) == ["hookwatch", apps.DIY]
        assert groups["bare"].get("structlog", 0) == 0
        assert groups[apps.DIY]["prometheus_flask_exporter"] > 0
        assert groups["hookwatch"]["hookwatch"] > 0
        assert result["requests"] == 40
        table = profile.markdown(result)
        assert "**sum**" in table and "hookwatch − bare" in table

    def test_functions_added_to_bare(self) -> None:
        """cProfile's statistics name the functions each variant adds: hookwatch's own, and
        the exporter's hook, with the calls per request."""
        result = profile.breakdown(calls=20, slices=2)
        hookwatch = result["functions"]["hookwatch"]
        assert any(row["function"].startswith("app/hookwatch/") for row in hookwatch)
        assert any("prometheus_flask_exporter" in row["function"]
                   for row in result["functions"][apps.DIY])
        assert "| function (own time) |" in profile.functions_markdown(hookwatch)

    def test_group_of(self) -> None:
        assert profile.group_of("/venv/lib/python3.11/site-packages/flask/app.py") == (
            "flask, werkzeug")
        assert profile.group_of("/repo/app/hookwatch/extension.py") == "hookwatch"
        assert profile.group_of("/repo/app/main/views.py") == "the app's views and templates"
        assert profile.group_of("/repo/benchmarks/apps.py") == (
            "exporter+structlog's access-line hooks")
        assert profile.group_of("/usr/lib/python3.11/json/encoder.py") == profile.OTHER
        assert profile.group_of("~") is None  # a C function: its caller's group


class TestLoopback:
    def test_parse_wrk(self) -> None:
        """wrk's text output gives requests, req/s, p50 and p99 in milliseconds."""
        output = """Running 1s test @ http://127.0.0.1:5000/
  1 threads and 4 connections
  Latency Distribution
     50%  812.00us
     75%    1.10ms
     90%    1.50ms
     99%    3.25ms
  1200 requests in 1.00s, 1.01MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   1199.50
Transfer/sec:      1.01MB
"""
        run = loopback.parse_wrk(output)
        assert (run.requests, run.rps, run.p50_ms, run.p99_ms, run.errors) == (
            1200, 1199.5, 0.812, 3.25, 7)
        with pytest.raises(ValueError):
            loopback.parse_wrk("wrk: connection refused\n")

    def test_ratio_is_paired_by_round(self) -> None:
        """Rounds slowed for both (the second) and for hookwatch alone (the third) do not
        move hookwatch's ratio to bare (its median req/s over bare's, or the rounds paired
        out of order, would say 0.5625); req/s and latencies are medians over rounds, the
        requests a sum."""
        def rounds(*rps: float) -> list[loopback.Run]:
            return [loopback.Run(int(r), r, 1000 / r, 4000 / r, 0) for r in rps]

        runs = {}
        for label, _, _ in inprocess.ROUTES:
            runs["bare", label] = rounds(1000, 500, 800)
            runs["hookwatch", label] = rounds(900, 450, 240)
        table = loopback.summarise(runs, ["bare", "hookwatch"])
        for label, _, _ in inprocess.ROUTES:
            cell = table[label]["hookwatch"]
            assert cell["ratio"] == pytest.approx(0.9)
            assert (cell["rps"], cell["requests"]) == (450, 1590)
            assert cell["p50_ms"] == pytest.approx(1000 / 450)
            assert table[label]["bare"]["ratio"] == 1

    def test_logged_requests_leave_out_health_and_metrics(self, tmp_path) -> None:
        log = tmp_path / "requests.log"
        log.write_text("\n".join(json.dumps(line) for line in (
            {"event": "request_finished", "path": "/"},
            {"event": "request_finished", "path": "/healthz"},
            {"event": "request_finished", "path": "/metrics"},
            {"event": "app_warmup_finished"},
            {"event": "request_finished", "path": "/user/ada"},
        )) + "\n", encoding="utf-8")
        assert loopback.logged_requests(str(log)) == 2

    def test_every_request_is_counted_over_loopback(self) -> None:
        """One second per variant and route under gunicorn: every request wrk completed is
        counted by each instrumented variant and logged by those that log."""
        require_binary("wrk")
        runs, problems = loopback.run(NAMES, seconds=1, rounds=1, warmup=False)
        assert problems == []
        assert all(run.requests > 0 for cell in runs.values() for run in cell)


class TestProduction:
    def test_every_request_is_counted_on_the_production_path(self) -> None:
        """One round of one second on one route, sync and gthread workers: every request wrk
        completed is counted by the exporter's and hookwatch's multiprocess metrics, and
        logged by hookwatch; every gunicorn is gone afterwards."""
        require_binary("wrk")
        table, problems = production.run(seconds=1, rounds=1, routes=inprocess.ROUTES[1:],
                                         warmup=False)
        assert problems == []
        assert list(table) == ["sync", "gthread"]
        for routes in table.values():
            assert list(routes) == ["/user/<name>"]
            row = routes["/user/<name>"]
            assert list(row) == list(production.NAMES)
            assert all(cell["requests"] > 0 and cell["p99_ms"] > 0 for cell in row.values())
            assert row["bare"]["ratio"] == 1
        assert "sync `/user/<name>`" in production_markdown(table)

    def test_gunicorn_never_reads_the_projects_config(self, monkeypatch) -> None:
        """Every variant's gunicorn is given the benchmark's own config file with -c."""
        require_binary("wrk")
        servers = []

        def start(name, workdir, config, *args, **kwargs):
            servers.append((name, config))
            raise RuntimeError("not started")

        monkeypatch.setattr(loopback, "_start", start)
        with pytest.raises(RuntimeError):
            production.run(rounds=0)
        assert servers == [("bare", production.CONFIG)]
        assert production.CONFIG.name != "gunicorn.conf.py"


class TestScrape:
    def test_eight_workers_files(self) -> None:
        """8 slots' files of the default mix's series rendered in both formats; without the
        four sub-millisecond buckets, four lines fewer per duration series."""
        results = scrape.run_slots(repeats=2)
        hookwatch, otel = results.values()
        assert "8 workers' files (" in next(iter(results))
        for name in ("text", "openmetrics"):
            assert hookwatch[name]["ms"] > 0
            series = len(scrape.mix_series())
            assert hookwatch[name]["lines"] - otel[name]["lines"] >= 4 * series
        assert "OpenTelemetry's default buckets" in scrape_markdown(results)

    @pytest.mark.parametrize("kind", scrape.KINDS)
    def test_the_series_are_made_and_scraped(self, kind) -> None:
        """Every fill request answered as asked, and /metrics renders the 300 duration
        series in both formats."""
        app = scrape.build(kind, CollectorRegistry())
        assert scrape.fill(app) == 300
        results = scrape.measure(app, repeats=1)
        apps.close_logs(app)
        assert set(results) == {"text", "openmetrics"}
        assert all(result["lines"] > 300 * 10 for result in results.values())
