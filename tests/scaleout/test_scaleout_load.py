"""Exact metrics and logs under concurrent load, whatever serves the requests.

Each test starts a real server on a free 127.0.0.1 port and sends a fixed mix of requests
(``loadmix``) from 16 client threads, in two halves. Multiprocess servers lose a process
between the halves: a gunicorn worker, or a forked dev-server child, killed in the middle of
a request. Then ``/metrics`` (parsed, never matched with regexes) and the JSON log must
account for every request sent exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.servers import (
    LoadResult,
    ServerProcess,
    app_env,
    child_pids,
    free_port,
    http_get,
    log_events,
    python,
    request_counts,
    run_load,
    sample_sum,
    scrape,
    wait_for,
)

from .loadmix import Planned, expected_counts, load_size, plan

CLIENTS = 16
PROCESSES = 4
# Five kinds of files per process (counter, histogram, gauge_max/livesum/livemin).
FILE_KINDS = 5
REQUEST_EVENTS = {"request_finished", "request_failed"}


@dataclass(frozen=True)
class Target:
    name: str
    args: tuple[str, ...]
    workers: int  # processes that warm up at start
    multiproc: str  # "" (in memory), "slots" (runserver --processes), "workers" (gunicorn)
    log_file: bool = False  # log to a LOG_FILE that every process appends to, not stdout

    def command(self, port: int) -> list[str]:
        return [python(), *(arg.format(port=port) for arg in self.args)]


GUNICORN = ("-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", "127.0.0.1:{port}")
TARGETS = [
    Target("runserver-threaded",
           ("manage.py", "runserver", "--threaded", "-h", "127.0.0.1", "-p", "{port}"), 1, ""),
    Target("runserver-processes",
           ("manage.py", "runserver", "--processes", str(PROCESSES), "-h", "127.0.0.1",
            "-p", "{port}"), 1, "slots", log_file=True),
    # --threads 1: gunicorn silently turns a sync worker with threads > 1 into gthread.
    Target("gunicorn-sync", (*GUNICORN, "-k", "sync", "-w", "4", "--threads", "1", "wsgi:app"),
           4, "workers", log_file=True),
    Target("gunicorn-gthread",
           (*GUNICORN, "-k", "gthread", "-w", "2", "--threads", "4", "wsgi:app"), 2, "workers"),
]


def dir_usage(server: ServerProcess, target: Target, directory: Path) -> tuple[int, int]:
    """(number of metric files, their total size in bytes); for runserver --processes, once
    every child is reaped: a forked child's live gauge files exist until the server reaps it
    (within half a second of its exit), so the count is compared at rest.
    """
    if target.multiproc == "slots":
        wait_for(lambda: not child_pids(server.pid, zombies=True), 10, "every child reaped")
    files = list(directory.glob("*.db"))
    return len(files), sum(f.stat().st_size for f in files)


def delta(after: Counter, before: Counter) -> dict[Any, int]:
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def assert_clients_saw(result: LoadResult, requests: list[Planned]) -> None:
    assert result.errors == [], result.errors[:5]
    assert result.sent == len(requests)
    expected = Counter((r.path, r.status) for r in requests)
    assert result.statuses == expected
    server_errors = {path for (path, status) in result.statuses if status >= 500}
    assert server_errors <= {"/boom"}, server_errors


def in_flight_process(directory: Path) -> str:
    """The slot whose live gauge file holds one request in flight."""
    for path in directory.glob("gauge_livesum_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        if any('"http_server_active_requests"' in key and value == 1 for key, value, *_ in values):
            return path.name[len("gauge_livesum_"):-len(".db")]
    return ""


def kill_mid_request(server: ServerProcess, target: Target, directory: Path, log: Path) -> int:
    """Start a slow request, SIGKILL the process serving it, wait for the server to recover.

    Returns the pid killed. The request never completes, so it is neither counted nor logged.
    """
    outcome: list[Any] = []
    slow = threading.Thread(
        target=lambda: outcome.append(_try_get(server.port, "/slow?ms=4000")), name="doomed"
    )
    if target.multiproc == "slots":
        # Only the doomed request's child may be alive when we pick the victim.
        wait_for(lambda: not child_pids(server.pid), 10, "idle server")
    before = set(child_pids(server.pid))
    slow.start()
    wait_for(lambda: in_flight_process(directory), 10, "the slow request in flight")
    if target.multiproc == "slots":
        victim = wait_for(lambda: _single(set(child_pids(server.pid)) - before), 10, "its child")
    else:
        victim = _worker_in_slot(server.pid, directory, in_flight_process(directory))
    os.kill(victim, signal.SIGKILL)
    slow.join(timeout=30)
    assert outcome and isinstance(outcome[0], Exception), outcome
    if target.multiproc == "workers":
        wait_for(lambda: _replaced(server.pid, victim, target.workers), 30, "a new worker")
        warmups = lambda: len(_events(log, "app_warmup_finished")) == target.workers + 1  # noqa: E731
        wait_for(warmups, 30, "the new worker's warm-up")
    wait_for(lambda: sample_sum(scrape(server.port), "http_server_active_requests") == 0, 10,
             "the in-flight gauge to forget the killed process")
    return victim


def _try_get(port: int, path: str) -> Any:
    try:
        return http_get(port, path, timeout=30)
    except Exception as error:  # noqa: BLE001 - the expected outcome
        return error


def _worker_in_slot(master: int, directory: Path, slot: str) -> int:
    """The gunicorn worker whose memory maps the slot's metric files."""
    suffix = f"_{slot}.db"
    [pid] = [pid for pid in child_pids(master)
             if any(line.endswith(suffix) and str(directory) in line
                    for line in Path(f"/proc/{pid}/maps").read_text().splitlines())]
    return pid


def _single(pids: set[int]) -> int | None:
    return next(iter(pids)) if len(pids) == 1 else None


def _replaced(master: int, victim: int, workers: int) -> bool:
    pids = child_pids(master)
    return len(pids) == workers and victim not in pids


def _events(log: Path, *names: str) -> list[dict[str, Any]]:
    return [e for e in log_events(log) if e.get("event") in names]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_every_request_counted_and_logged_once(target: Target, tmp_path: Path) -> None:
    """Under 16 concurrent clients, /metrics and the JSON log account for every request
    exactly once, by route and status; nothing stays in flight; only /boom answers 5xx; a
    process killed mid-request loses none of the counts already recorded; the warm-up runs
    once per process; the runserver --processes directory does not grow with requests."""
    total = load_size(forking=target.multiproc == "slots")
    first_half, second_half = plan(total // 2), plan(total - total // 2, start=total // 2)
    env = app_env(DASHBOARD_ENABLED="on")
    directory = tmp_path / "multiproc"
    if target.multiproc == "workers":
        env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    if target.log_file:
        env["LOG_FILE"] = str(tmp_path / "app.log")
    port = free_port()
    with ServerProcess(target.command(port), port, tmp_path, env, target.name) as server:
        log = Path(env.get("LOG_FILE") or server.stdout_path)
        server.wait_ready()
        if target.multiproc == "slots":
            (started,) = _events(log, "runserver_multiprocess")
            directory = Path(started["multiproc_dir"])
            assert started["processes"] == PROCESSES and started["multiproc_dir_owned"]
        before = request_counts(scrape(port))
        log_start = log.stat().st_size

        first = run_load(port, [r.path for r in first_half], CLIENTS)
        assert_clients_saw(first, first_half)
        usage_first = dir_usage(server, target, directory) if target.multiproc else None
        if target.multiproc:
            kill_mid_request(server, target, directory, log)
            # Nothing recorded before the kill is lost.
            assert delta(request_counts(scrape(port)), before) == expected_counts(first_half)

        second = run_load(port, [r.path for r in second_half], CLIENTS)
        assert_clients_saw(second, second_half)
        usage_second = dir_usage(server, target, directory) if target.multiproc else None
        log_end = log.stat().st_size
        after = scrape(port)
        status, _, body = http_get(port, "/dashboard/data.json")
        assert status == 200, body[:300]
        board = json.loads(body)

        warmups = _events(log, "app_warmup_finished")
        stray_stderr = server.stderr_tail()
    if target.multiproc == "slots":
        assert not directory.exists(), "runserver must remove the directory it created"

    # Metrics: exact per route x status, and in total; nothing left in flight.
    counts = delta(request_counts(after), before)
    assert counts == expected_counts(first_half + second_half)
    assert sum(counts.values()) == total
    assert sample_sum(after, "http_server_active_requests") == 0
    assert {status for (_, _, status) in counts if status.startswith("5")} == {"500"}
    assert all(route == "/boom" for (_, route, status) in counts if status.startswith("5"))
    boom = sum(1 for r in first_half + second_half if r.route == "/boom")
    assert sample_sum(after, "hookwatch_exceptions_total", http_route="/boom",
                      error_type="RuntimeError") == boom

    # The built-in dashboard reads the same aggregated numbers.
    assert board["requests"] == sum(request_counts(after).values())
    assert board["in_flight"] == 0 and board["warmup"]["ready"] is True
    assert board["multiprocess"] is bool(target.multiproc)

    # Logs: one line per request, unique ids, the very ids the clients received. (The test's
    # own scrapes of /metrics, uncounted in metrics but logged, are left out.)
    lines = [e for e in log_events(log, log_start, log_end)
             if e.get("event") in REQUEST_EVENTS and e["path"] != "/metrics"]
    ids = [line["request_id"] for line in lines]
    assert len(lines) == total
    assert len(set(ids)) == total
    assert set(ids) == set(first.request_ids + second.request_ids)
    failed = [line for line in lines if line["event"] == "request_failed"]
    assert len(failed) == boom and {line["route"] for line in failed} == {"/boom"}

    # Warm-up: once per process at start, once more for a replaced gunicorn worker; never
    # again in the children that runserver --processes forks for every request.
    replaced = 1 if target.multiproc == "workers" else 0
    assert len(warmups) == target.workers + replaced, stray_stderr

    if target.multiproc:
        # Bounded: a killed process's replacement (a forked child, a new gunicorn worker)
        # writes to its slot's files; no file set per process that ever ran.
        files_first, bytes_first = usage_first
        files_second, bytes_second = usage_second
        assert files_second <= files_first and bytes_second <= bytes_first
        slots = PROCESSES + 1 if target.multiproc == "slots" else target.workers
        assert files_second <= slots * FILE_KINDS
    print(f"\n{target.name}: {total} requests from {CLIENTS} clients in "
          f"{first.seconds + second.seconds:.1f}s "
          f"({total / (first.seconds + second.seconds):.0f}/s); multiproc files: {usage_second}")
