"""Loopback benchmark: each variant under gunicorn on 127.0.0.1, loaded by Debian's ``wrk``.

One gunicorn worker (gthread, one thread, keep-alive) per variant, all started first; every
(round, route) runs all variants in a rotating order for a short fixed duration. wrk
reports requests per second and the latency distribution; the ratio to bare is paired by
round (the median of each round's own ratio). Afterwards each instrumented variant's own
``/metrics`` must have counted every request wrk completed: at least wrk's total, at most
that plus the connections in flight each time wrk stopped (wrk drops those answers); the
variants that log (hookwatch, exporter+structlog) must hold exactly one
``request_finished`` line per counted request in their log file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from .apps import FACTORIES, LOGGED
from .inprocess import ROUTES, ratio, request_series

__all__ = ["Run", "logged_requests", "parse_wrk", "run", "summarise"]

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass
class Run:
    """One wrk run's figures."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Server:
    """A gunicorn process serving one variant."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: str
    served: dict[str, int] = field(default_factory=dict)
    wrk_runs: dict[str, int] = field(default_factory=dict)
    # Where its metrics are read, if not the server's own /metrics.
    metrics_url: str | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _latency_ms(text: str, percentile: str) -> float:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if match is None:
        raise ValueError(f"no {percentile}% latency in wrk output:\n{text}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(text: str) -> Run:
    """Read the figures we need from ``wrk --latency`` output."""
    total = re.search(r"^\s*(\d+) requests in", text, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    if total is None or rps is None:
        raise ValueError(f"unexpected wrk output:\n{text}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket_errors = re.search(r"Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)", text)
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Run(int(total.group(1)), float(rps.group(1)), _latency_ms(text, "50"),
               _latency_ms(text, "99"), errors)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the benchmark dies, however it ends (Linux);
    gunicorn's workers notice their master is gone and exit too."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start(name: str, workdir: str, config: Path = Path(__file__).with_name("gunicorn_bench.py"),
           app: str | None = None, args: tuple[str, ...] = (),
           env: dict[str, str] | None = None, slug: str | None = None) -> Server:
    """Start gunicorn for variant ``name`` (``benchmarks.apps:<factory>()`` unless ``app``
    says otherwise), with ``config`` passed by -c, extra gunicorn ``args`` and ``env``; wait
    until ``/healthz`` answers."""
    port = _free_port()
    slug = slug or FACTORIES[name]
    log_path = os.path.join(workdir, f"{slug}.log")
    environ = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    environ.update(LOG_FILE=log_path, PYTHONPATH=str(ROOT), **(env or {}))
    with open(os.path.join(workdir, f"{slug}.gunicorn.err"), "w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(config), *args,
             "--bind", f"{HOST}:{port}", app or f"benchmarks.apps:{FACTORIES[name]}()"],
            cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=errors,
            preexec_fn=_die_with_parent,
        )
    server = Server(name, port, process, log_path, {label: 0 for label, _, _ in ROUTES},
                    {label: 0 for label, _, _ in ROUTES})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2):
                return server
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    _stop(server)
    raise RuntimeError(f"gunicorn for {name} did not start; see {workdir}/{slug}.gunicorn.err")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def _wrk(port: int, path: str, seconds: float, connections: int, threads: int = 1) -> Run:
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
         f"http://{HOST}:{port}{path}"],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    )
    return parse_wrk(done.stdout)


def _counted(server: Server, rule: str) -> float:
    url = server.metrics_url or f"http://{HOST}:{server.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    wanted, labels, _ = request_series(server.name, rule)  # any status
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == wanted and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _check(server: Server, connections: int) -> list[str]:
    """Compare what the server counted with what wrk completed, on each route it was sent;
    return the problems."""
    problems = []
    if server.name == "bare":
        return problems
    counted_total = 0
    for label, _, rule in ROUTES:
        if not server.wrk_runs[label]:
            continue
        counted = _counted(server, rule)
        counted_total += counted
        completed = server.served[label]
        if not completed <= counted <= completed + connections * server.wrk_runs[label]:
            problems.append(f"{server.name} {label}: wrk completed {completed}, counted {counted}")
    if server.name in LOGGED:
        logged = logged_requests(server.log_path)
        if logged != counted_total:
            problems.append(f"{server.name}: {logged} request_finished lines, "
                            f"{counted_total} counted")
    return problems


def logged_requests(path: str) -> int:
    """The ``request_finished`` lines of a log file, less those of ``/healthz`` (polled
    while the server starts) and ``/metrics`` (read by the count check)."""
    with open(path, encoding="utf-8") as log:
        lines = [json.loads(line) for line in log if line.strip()]
    return sum(1 for line in lines if line.get("event") == "request_finished"
               and line.get("path") not in {"/healthz", "/metrics"})


def run(names: list[str], seconds: int = 1, rounds: int = 9, connections: int = 4,
        warmup: bool = True) -> tuple[dict[tuple[str, str], list[Run]], list[str]]:
    """Load every variant on every route; return the runs per (variant, route) and problems.

    ``warmup`` adds one unrecorded second of load per variant and route first."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package 'wrk')")
    runs: dict[tuple[str, str], list[Run]] = {
        (n, label): [] for n in names for label, _, _ in ROUTES}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hookwatch-loopback-") as workdir:
        servers = {name: _start(name, workdir) for name in names}
        try:
            for name, server in servers.items() if warmup else ():
                for label, path, _ in ROUTES:
                    server.served[label] += _wrk(server.port, path, 1, connections).requests
                    server.wrk_runs[label] += 1
            for round_number in range(rounds):
                for label, path, _ in ROUTES:
                    shift = round_number % len(names)
                    for name in names[shift:] + names[:shift]:
                        result = _wrk(servers[name].port, path, seconds, connections)
                        servers[name].served[label] += result.requests
                        servers[name].wrk_runs[label] += 1
                        runs[name, label].append(result)
                        if result.errors:
                            problems.append(f"{name} {label}: {result.errors} errors in wrk")
            time.sleep(0.5)  # let the last in-flight requests finish before counting
            for server in servers.values():
                problems += _check(server, connections)
        finally:
            for server in servers.values():
                _stop(server)
    return runs, problems


def summarise(runs: dict[tuple[str, str], list[Run]], names: list[str]
              ) -> dict[str, dict[str, dict[str, float]]]:
    """Route -> variant -> medians over rounds (req/s, p50, p99), requests in all, and the
    ratio of req/s to bare's, paired by round as in-process: the median of each round's
    ratio, so a stretch of the CPU's slower speed moves the ratios of the rounds it fell
    in, not the median (the rotating order keeps it from falling on one variant each
    time)."""
    return {
        label: {name: _summary(runs[name, label], runs["bare", label]) for name in names}
        for label, _, _ in ROUTES
    }


def _summary(rounds: list[Run], bare_rounds: list[Run]) -> dict[str, float]:
    return {
        "rps": statistics.median(r.rps for r in rounds),
        "ratio": ratio([r.rps for r in rounds], [r.rps for r in bare_rounds]),
        "p50_ms": statistics.median(r.p50_ms for r in rounds),
        "p99_ms": statistics.median(r.p99_ms for r in rounds),
        "requests": sum(r.requests for r in rounds),
    }
