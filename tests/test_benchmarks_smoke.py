"""A short run of the benchmarks, so ``make bench`` keeps working; no timing assertions."""

from __future__ import annotations

import json
import statistics

import pytest
from prometheus_client import CollectorRegistry

from app.hookwatch.hooks import RequestLifecycle
from app.hookwatch.logs import current_request
from benchmarks import (ablate, apps, compare, flat, inprocess, loopback, parts, profile,
                        scatter, scrape, sinks)
from benchmarks.__main__ import run_inprocess
from tests.conftest import require_binary

NAMES = ["bare", "hookwatch", "exporter"]


class TestInProcess:
    def test_every_request_is_counted_and_logged(self, tmp_path) -> None:
        """A tiny in-process run: each variant answers, hookwatch counts and logs each call."""
        table, problems = run_inprocess(NAMES, calls=20, repeats=2,
                                        log_path=str(tmp_path / "requests.log"))
        assert problems == []
        assert set(table) == {"/", "/user/<name>"}
        for row in table.values():
            assert set(row) == set(NAMES)
            assert all(cell["median_us"] > 0 for cell in row.values())

    def test_a_repeat_the_whole_machine_slowed_keeps_its_ratio(self) -> None:
        """The ratio pairs each batch with bare's of the same repeat: a repeat in which the
        CPU ran at half speed for every variant does not move it, though it moves medians."""
        bare = [100e-6, 200e-6, 100e-6, 200e-6, 200e-6]
        variant = [120e-6, 240e-6, 120e-6, 240e-6, 240e-6]
        assert inprocess.paired_ratio(variant, bare) == pytest.approx(1.2)
        cells = {("bare", "/"): inprocess.Cell(bare), ("v", "/"): inprocess.Cell(variant)}
        assert inprocess.added_us(cells, "v", "/") == pytest.approx(40.0)  # 0.2 x bare's 200

    def test_a_missing_or_extra_request_line_is_a_problem(self) -> None:
        sent = {("hookwatch", "/"): 2, ("hookwatch", "/user/<name>"): 3}
        assert inprocess.unlogged("hookwatch", 5, sent) == []
        assert inprocess.unlogged("hookwatch", 4, sent) == ["hookwatch: sent 5, 4 request lines"]
        assert inprocess.unlogged("hookwatch", 6, sent) == ["hookwatch: sent 5, 6 request lines"]


class TestLogDestinations:
    def test_every_request_is_counted_and_logged_at_each_destination(self) -> None:
        """A tiny run per destination, and with no write: counted everywhere, and every
        request line read back from the files and counted by the process reading the pipe."""
        table, problems = sinks.run(calls=20, repeats=2)
        assert problems == []
        for row in table.values():
            assert list(row)[:2] == ["bare", "exporter"]
            destinations = [name for name in row if name.startswith("hookwatch, ")]
            assert "hookwatch, pipe to another process" in destinations
            assert "hookwatch, /dev/null" in destinations
            assert any(name.startswith("hookwatch, file on ") for name in destinations)
            assert destinations[-1] == sinks.NOWHERE

    def test_filesystem_of(self, tmp_path) -> None:
        """The mount table names the file system of a path; /proc is procfs."""
        assert sinks.filesystem_of("/proc/self") == "proc"
        assert sinks.filesystem_of(str(tmp_path)) not in {"", "unknown"}


class TestAblate:
    def test_every_part_is_measured(self) -> None:
        """A tiny run: a figure for every part on both routes, and the table renders."""
        table = ablate.run(calls=10, repeats=1)
        assert set(table) == {"/", "/user/<name>"}
        assert all(part in ablate.markdown(table) for part in ablate.PARTS)

    @pytest.mark.parametrize("part", list(ablate.PARTS))
    def test_switching_a_part_off_removes_its_work(self, tmp_path, part) -> None:
        """Each copy really lacks its part, and only it: no line written, nothing observed,
        no header, no request in flight while the view runs."""
        registry = CollectorRegistry()
        app = apps.hookwatch(str(tmp_path / "requests.log"), registry)
        ablate.PARTS[part](app)
        in_flight = []
        app.add_url_rule("/in-flight", "in_flight", lambda: str(in_flight.append(
            registry.get_sample_value("http_server_active_requests",
                                      {"http_request_method": "GET"}))))
        client = app.test_client()
        response = client.get("/")
        client.get("/in-flight")
        apps.close_logs(app)
        logged = "request_finished" in (tmp_path / "requests.log").read_text(encoding="utf-8")
        counted = registry.get_sample_value(
            "http_server_request_duration_seconds_count",
            {"http_request_method": "GET", "http_route": "/", "http_response_status_code": "200"})
        assert logged == ("request line" not in part and "write" not in part)
        assert (counted == 1) == ("histograms" not in part)
        assert ("Server-Timing" in response.headers) == ("Server-Timing" not in part)
        assert [value or 0 for value in in_flight] == [0 if "gauge" in part else 1]


class TestFlat:
    def test_the_flattened_copy_counts_and_logs_every_request(self) -> None:
        """A tiny run: the flattened copy answers like hookwatch, counted and logged once."""
        table, problems = flat.run(calls=10, repeats=2)
        assert problems == []
        for row in table.values():
            assert list(row) == ["bare", "exporter", "hookwatch", flat.FLAT]

    def test_the_flattened_copy_makes_the_same_outputs(self, tmp_path) -> None:
        """The same headers, metrics and line fields as the full app, for a plain request."""
        outputs = []
        for name, build in (("full", lambda app: app), ("flat", flat.flatten)):
            registry = CollectorRegistry()
            app = build(apps.hookwatch(str(tmp_path / f"{name}.log"), registry))
            response = app.test_client().get("/user/ada")
            apps.close_logs(app)
            [line] = [json.loads(text) for text in (tmp_path / f"{name}.log").read_text(
                encoding="utf-8").splitlines() if '"request_finished"' in text]
            # Every series, and the counts (durations differ from one request to the next).
            samples = {(sample.name, tuple(sorted(sample.labels.items())),
                        sample.value if sample.name.endswith("_count") else None)
                       for family in registry.collect() for sample in family.samples}
            outputs.append((sorted(response.headers.keys()), sorted(line), samples))
        assert outputs[0] == outputs[1]


class TestParts:
    def test_every_part_is_timed_and_nothing_is_left_current(self) -> None:
        """A tiny run: a figure for hookwatch's steps, each breakdown part and the exporter's
        hooks; afterwards no request of the loops is current in the caller's context."""
        table = parts.run(calls=10, repeats=1)
        assert list(table) == [parts.HOOKWATCH_STEPS, *ablate.PARTS, parts.EXPORTER_HOOKS]
        assert all(part in parts.markdown(table) for part in table)
        assert current_request.get() is None

    def test_a_loop_that_failed_is_not_a_figure(self, monkeypatch) -> None:
        """hookwatch reports its own failures instead of raising; the run raises instead of
        timing them."""
        def broken(*_: object) -> None:
            raise OSError("broken on purpose")

        monkeypatch.setattr(RequestLifecycle, "_finish_response", broken)
        with pytest.raises(RuntimeError, match="after_request"):
            parts.run(calls=2, repeats=1)

    def test_each_loop_does_its_parts_work_once_per_pass(self, tmp_path) -> None:
        """One pass of each loop: the steps count and log a request with an id of its own;
        each part does its work (a line, the line written as given, seven observations,
        the gauge up and down, the header with Server-Timing on and not without)."""
        registry = CollectorRegistry()
        log = tmp_path / "requests.log"
        app = apps.hookwatch(str(log), registry)
        lifecycle = app.extensions["hookwatch"]
        finished, moves = [], []
        after_request = lifecycle.after_request
        lifecycle.after_request = lambda response: finished.append(after_request(response))
        class Moves:  # the in-flight gauge's GET child, telling its steps
            def inc(self) -> None:
                moves.append("up")

            def dec(self) -> None:
                moves.append("down")

        gauge = Moves()
        lifecycle.metrics.active_for = lambda _method: gauge
        given = b'{"event":"given"}\n'
        with app.test_request_context("/") as context:
            loops = parts._hookwatch_loops(lifecycle, context.request, given)
            for part in (parts.HOOKWATCH_STEPS, parts.HOOKWATCH_STEPS, ablate.LINE,
                         ablate.WRITE, ablate.HISTOGRAMS, ablate.GAUGE, ablate.SERVER_TIMING):
                timed, setup = loops[part]
                timed()
                setup()
        apps.close_logs(app)
        lines = log.read_bytes().splitlines(keepends=True)
        requests = [json.loads(line) for line in lines if b'"request_finished"' in line]
        assert len(requests) == 3  # two passes of the steps, one of the line
        assert len({line["request_id"] for line in requests[:2]}) == 2
        assert lines[-1] == given
        assert registry.get_sample_value("http_server_request_duration_seconds_count", {
            "http_request_method": "GET", "http_route": "/",
            "http_response_status_code": "200"}) == 3  # two passes of the steps, one here
        assert moves == ["up", "down"] * 3  # the steps' two passes, then the gauge's own
        assert ["Server-Timing" in response.headers for response in finished] == [
            True, True, True, False]
        assert current_request.get() is None  # every loop leaves no request current

    def test_exporter_loop_counts_every_pass(self) -> None:
        """The exporter's marks are removed between passes, so it counts and times each one."""
        registry = CollectorRegistry()
        app = apps.exporter(registry)
        with app.test_request_context("/"):
            hooks, _ = parts._exporter_loop(app)
            for _ in range(4):
                hooks()
        labels = {"method": "GET", "status": "200"}
        assert registry.get_sample_value("flask_http_request_total", labels) == 4
        assert registry.get_sample_value("flask_http_request_duration_seconds_count",
                                         {**labels, "path": "/"}) == 4


class TestScatter:
    def test_chain_links_in_order_and_each_request_walks_it(self, monkeypatch) -> None:
        """Each list's item is the next list; the app walks the chain from its head before
        every request."""
        nodes = [[None] for _ in range(5)]
        head = scatter.chain(nodes)
        assert head is nodes[0] and [node[0] for node in nodes] == [*nodes[1:], None]
        visited: list = []
        monkeypatch.setattr(scatter, "walk", lambda node: visited.append(node))
        app = scatter._walking(head)
        app.test_client().get("/")
        assert visited == [head]

    def test_packed_lists_are_neighbours_and_scattered_ones_far_apart(self) -> None:
        """CPython's ids are addresses: from each of the packed chain's 400 lists to the next
        is a step of a few dozen bytes (a handful of longer ones where the allocator's
        pools or arenas end); the scattered chain's steps are of MiBs. Also in a process
        whose memory is full of freed holes, as after the rest of the suite."""
        def steps(head: list) -> list[int]:
            found = []
            while head is not None:
                found.append(id(head))
                head = head[0]
            return [abs(after - before) for before, after in zip(found, found[1:])]

        holes = [[None] for _ in range(200_000)]
        del holes[::2]  # every other list freed: holes all over the allocator's arenas
        chains = scatter._chains(400)
        del holes
        packed, scattered = steps(chains["packed"]), steps(chains["scattered"])
        assert len(packed) == len(scattered) == 399
        assert sum(step > 256 for step in packed) <= 4
        assert statistics.median(scattered) > 256 << 10

    def test_both_chains_in_requests_and_in_a_loop(self) -> None:
        """A figure for each chain in a loop and on each route."""
        figures = scatter.run(lists=50, calls=10, repeats=2, loop_walks=50)
        assert set(figures) == {"packed", "scattered"}
        for row in figures.values():
            assert set(row["in_request_us"]) == {"/", "/user/<name>"}
            assert row["loop_us"] > 0


class TestProfile:
    def test_profiles_the_request_path(self, capsys) -> None:
        """cProfile's table names hookwatch's hooks."""
        profile.main(["--calls", "20", "--top", "80"])
        assert "hooks.py" in capsys.readouterr().out

    @pytest.mark.parametrize("variant", apps.VARIANTS)
    def test_calls_only_for_an_outside_tool(self, capsys, monkeypatch, variant) -> None:
        """``--no-profiler`` makes the warm-up and the asked calls, and prints nothing
        (callgrind counts them)."""
        made = []
        monkeypatch.setattr(profile, "call", lambda app, environ: made.append(environ["PATH_INFO"]))
        profile.main(["--variant", variant, "--no-profiler", "--calls", "5", "--path", "/"])
        assert capsys.readouterr().out == ""
        assert made == ["/"] * 505


class TestCompare:
    def test_summary_is_the_median_over_runs_of_each_runs_own_difference(self) -> None:
        """Each run's added µs pairs its batches with its own bare's; the summary is the
        median over runs (a run's bare at 110 µs and hookwatch at 154 is +44), and the ratio
        the median of each run's own."""
        us = 1e-6
        runs = [{"bare /": [bare * us] * 3, "hookwatch /": [hookwatch * us] * 3,
                 "exporter /": [exporter * us] * 3}
                for bare, hookwatch, exporter in ((100, 150, 130), (110, 154, 150), (90, 135, 115))]
        for run in runs:  # the other route, the same figures
            run.update({key.replace(" /", " /user/<name>"): value
                        for key, value in list(run.items())})
        table = compare.summarise_runs(runs)
        for route in ("/", "/user/<name>"):
            assert table[route] == pytest.approx(
                {"hookwatch": 45.0, "exporter": 30.0, "gap": 15.0,
                 "ratio": 50 / 30})  # the median of the runs' 50/30, 44/40 and 45/25

    def test_two_revisions_side_by_side_and_no_worktree_left(self, capsys) -> None:
        """A tiny comparison of HEAD with itself (a shallow clone has no other revision): a
        row per revision and route, and the temporary worktrees are gone afterwards."""
        worktrees_before = compare._git("worktree", "list")
        assert compare.main(["HEAD", "HEAD", "--runs", "1", "--calls", "5",
                             "--repeats", "1"]) == 0
        rows = [line for line in capsys.readouterr().out.splitlines()
                if line.startswith("| HEAD")]
        assert len(rows) == 4
        assert compare._git("worktree", "list") == worktrees_before


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
Requests/sec:   1199.50
Transfer/sec:      1.01MB
"""
        run = loopback.parse_wrk(output)
        assert (run.requests, run.rps, run.p50_ms, run.p99_ms, run.errors) == (
            1200, 1199.5, 0.812, 3.25, 0)

    def test_ratio_is_paired_by_round(self) -> None:
        """Rounds slowed for both (the second) and for hookwatch alone (the third) do not
        move hookwatch's ratio to bare (its median req/s over bare's, or the rounds paired
        out of order, would say 0.5625); the req/s and latency columns are medians over
        rounds, the requests a sum."""
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

    def test_every_request_is_counted_over_loopback(self) -> None:
        """One second per variant and route under gunicorn: wrk's requests all counted."""
        require_binary("wrk")
        runs, problems = loopback.run(NAMES, seconds=1, rounds=1, warmup=False)
        assert problems == []
        assert all(run.requests > 0 for cell in runs.values() for run in cell)


class TestScrape:
    def test_single_process_render(self) -> None:
        """The realistic series set renders in both formats."""
        from app.hookwatch.metrics import Metrics

        metrics = Metrics(CollectorRegistry(), "smoke")
        scrape.fill(metrics)
        results = scrape.measure(metrics, repeats=1)
        assert set(results) == {"text", "openmetrics"}
        assert all(result["lines"] > 300 * 17 for result in results.values())
