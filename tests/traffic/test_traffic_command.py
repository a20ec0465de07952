"""``python manage.py traffic`` against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from app.traffic import Plan, Runner, Summary, TargetError, check_target
from app.traffic import runner as runner_module
from tests.conftest import LogCapture
from tests.servers import LiveServer, request_counts

ROOT = Path(__file__).resolve().parents[2]


def summary_counts(summary: dict) -> Counter:
    return Counter({(row["route"], row["status"]): row["count"] for row in summary["routes"]})


def recorded(server: LiveServer) -> Counter[tuple[str, int]]:
    """Requests ``/metrics`` recorded, by (route, status), whatever the method."""
    counts: Counter[tuple[str, int]] = Counter()
    for (_, route, status), count in request_counts(server.samples()).items():
        counts[route, int(status)] += count
    return counts


def logged_paths(logs: LogCapture) -> list[str]:
    """The path of every request the server logged, in the order they finished."""
    return [line["path"] for line in logs.requests]


def start_with_sigint(handler: str, script: str, *args: str) -> subprocess.Popen[str]:
    """``python SCRIPT ARGS`` with SIGINT set to ``signal.<handler>`` when the script starts,
    not to whatever this test process inherited (pytest itself may run with SIGINT ignored)."""
    launcher = ("import runpy, signal, sys; "
                "signal.signal(signal.SIGINT, getattr(signal, sys.argv.pop(1))); "
                "sys.argv.pop(0); runpy.run_path(sys.argv[0], run_name='__main__')")
    return subprocess.Popen(
        [sys.executable, "-c", launcher, handler, script, *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestAgainstARealServer:
    def test_summary_counts_equal_what_metrics_recorded(self, live_server, traffic):
        """Every request the summary counts, by route and status, is what /metrics holds."""
        done = traffic("--base-url", live_server.url, "--count", "150", "--rate", "0",
                       "--concurrency", "4", "--seed", "11", "--json", "--quiet")
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["requests"] == 150
        assert summary["errors"] == {}
        counts = summary_counts(summary)
        assert counts == recorded(live_server)
        statuses = {status for _, status in counts}
        assert {200, 302, 400, 404, 500} <= statuses
        assert summary["latency_ms"]["p99"] >= summary["latency_ms"]["p50"] > 0

    def test_same_seed_sends_the_same_sequence(self, live_server, logs, traffic):
        """Two runs with one seed send the same paths in the same order; another seed not."""
        args = ("--base-url", live_server.url, "--count", "40", "--rate", "0",
                "--concurrency", "1", "--json", "--quiet")
        runs = []
        for seed in ("5", "5", "6"):
            before = len(logged_paths(logs))
            done = traffic(*args, "--seed", seed)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["seed"] == int(seed)
            runs.append(logged_paths(logs)[before:])
        assert len(runs[0]) == 40
        assert runs[0] == runs[1]
        assert runs[0] != runs[2]

    def test_table_and_progress(self, live_server, traffic):
        """Without --json: a table by route and status on stdout, the progress line on stderr."""
        done = traffic("--base-url", live_server.url, "--count", "30", "--rate", "0",
                       "--seed", "2")
        assert done.returncode == 0, done.stderr
        assert "/user/<name>" in done.stdout and "p95 ms" in done.stdout
        assert "30 requests in" in done.stdout and "--seed 2" in done.stdout
        assert "30 sent" in done.stderr

    def test_rate_and_duration_bound_the_run(self, live_server):
        """At 40 req/s for 1 s, requests are spaced 25 ms apart: 40 go out, due at 0 to
        0.975 s, then the run ends on its own."""
        summary = Summary()
        target = check_target(live_server.url)
        runner = Runner(target, Plan({"index": 1}, seed=1), duration=1.0, rate=40,
                        concurrency=2, on_result=summary.add)
        started = time.monotonic()
        runner.run()
        assert 0.95 <= time.monotonic() - started < 3.0  # ends on its own, near 1 s
        assert summary.total == 40
        assert recorded(live_server)[("/", 200)] == summary.total

    def test_t_is_the_short_duration_option(self, live_server, traffic):
        """-t bounds the run in seconds; -d, runserver's debugger flag, is no traffic option."""
        done = traffic("--base-url", live_server.url, "-t", "0.5", "--rate", "20", "--json",
                       "--quiet")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["requests"] == 10  # due at 0, 0.05, ..., 0.45 s
        refused = traffic("--base-url", live_server.url, "-d", "0.5", "--quiet")
        assert refused.returncode == 2 and refused.stdout == ""
        assert sum(recorded(live_server).values()) == 10  # the refused run sent nothing

    @pytest.mark.parametrize("sigint", ["default_int_handler", "SIG_IGN"])
    def test_ctrl_c_stops_cleanly_with_a_summary(self, live_server, logs, sigint):
        """SIGINT ends a long run within a moment; the summary is still printed, exit 0.
        Also when SIGINT was ignored at start (``make test &``, some CI runners)."""
        process = start_with_sigint(
            sigint, "manage.py", "traffic", "--base-url", live_server.url,
            "--duration", "60", "--rate", "50", "--json", "--quiet",
        )
        try:
            deadline = time.monotonic() + 15
            while not logged_paths(logs) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=10)
        finally:
            if process.poll() is None:  # never leave a run sending traffic behind
                process.kill()
                process.communicate()
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
        summary = json.loads(stdout)
        assert summary["interrupted"] is True
        assert 0 < summary["requests"] < 60 * 50
        assert summary_counts(summary) == recorded(live_server)


class TestTargets:
    def test_down_target_is_one_clear_error(self, traffic):
        """Nothing listening: exit 1, one line saying what to do, no traceback, no summary."""
        done = traffic("--base-url", f"http://127.0.0.1:{closed_port()}", "--count", "5")
        assert done.returncode == 1
        assert done.stdout == ""
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("traffic: error: cannot reach http://127.0.0.1:")
        assert "make run" in lines[0]

    def test_non_loopback_is_refused_without_allow_remote(self, traffic):
        """A remote host is refused before any connection; the message names the option."""
        done = traffic("--base-url", "http://192.0.2.10:5000", "--count", "5")
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert "--allow-remote" in done.stderr and "not a loopback" in done.stderr

    @pytest.mark.parametrize("url", ["http://localhost:1", "http://127.0.0.2:1", "http://[::1]:1"])
    def test_loopback_names_are_allowed(self, url, monkeypatch):
        """localhost, 127.0.0.0/8 and ::1 pass the loopback check (then the TCP check runs)."""
        monkeypatch.setattr(runner_module.socket, "create_connection", FakeConnection)
        assert check_target(url).port == 1

    def test_allow_remote_lets_a_remote_host_through(self, monkeypatch):
        """With allow_remote the host is only checked for a TCP connection."""
        monkeypatch.setattr(runner_module.socket, "create_connection", FakeConnection)
        assert check_target("http://app:5000", allow_remote=True).host == "app"
        with pytest.raises(TargetError, match="not a loopback"):
            check_target("http://app:5000")

    @pytest.mark.parametrize("url", ["ftp://127.0.0.1", "127.0.0.1:5000", "http://127.0.0.1:x"])
    def test_bad_urls_are_refused(self, url):
        with pytest.raises(TargetError):
            check_target(url)

    def test_target_going_down_mid_run_stops_it(self, live_server):
        """If the server disappears during a run, the run stops early and says it is down."""
        target = check_target(live_server.url)
        summary = Summary()
        runner = Runner(target, Plan({"index": 1}, seed=1), duration=20, rate=100,
                        concurrency=2, on_result=summary.add)
        runner.start()
        time.sleep(0.3)
        live_server.stop()
        assert runner.wait(10)
        assert runner.down
        assert summary.errors


class FakeConnection:
    def __init__(self, address, timeout=None):
        self.address = address

    def close(self):
        pass
