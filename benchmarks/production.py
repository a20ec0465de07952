"""The production path: gunicorn with prometheus-client's multiprocess mode, loaded by wrk.

For each worker set-up (sync: ``-k sync -w 2 --threads 1``; gthread: ``-k gthread -w 2
--threads 4``) three gunicorns are up at once on their own 127.0.0.1 ports, each started
with an explicit ``-c benchmarks/gunicorn_production.py`` (never ./gunicorn.conf.py):

- ``bare``: the bare app of :mod:`benchmarks.apps`, no metrics;
- ``exporter``: the same app with ``GunicornPrometheusMetrics`` (prometheus_flask_exporter's
  multiprocess class), ``PROMETHEUS_MULTIPROC_DIR`` set, ``mark_process_dead`` on child
  exit, its metrics served by the master on a port of their own (its documented set-up);
- ``hookwatch``: the app of :func:`benchmarks.apps.hookwatch` (JSON lines to ``LOG_FILE``)
  under hookwatch's gunicorn hooks, ``PROMETHEUS_MULTIPROC_DIR`` set;
- ``hookwatch, no exemplars``: the same with ``exemplars=False``, for what the exemplars
  (written across workers by :mod:`app.hookwatch.exemplars`) cost.

Every round loads each variant for a short burst (``wrk -t2 -c4 --latency``) on each route,
the order of the variants rotating from round to round; the ratio of req/s to bare's is
paired by round. Afterwards the count check of :mod:`benchmarks.loopback`: each
instrumented variant's metrics count every request wrk completed, and hookwatch's log
holds one request line per request. Every gunicorn is stopped however the run ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import loopback
from .inprocess import ROUTES

__all__ = ["NAMES", "WORKERS", "exporter_app", "run"]

CONFIG = Path(__file__).with_name("gunicorn_production.py")
NAMES = ("bare", "exporter", "hookwatch", "hookwatch, no exemplars")
# A variant that is another's app with an option changed: (set-up it shares, app, file slug).
VARIANTS = {"hookwatch, no exemplars": ("hookwatch", "benchmarks.apps:hookwatch(exemplars=False)",
                                        "hookwatch-no-exemplars")}
# Worker set-up -> gunicorn arguments.
WORKERS = {"sync": ("-k", "sync", "-w", "2", "--threads", "1"),
           "gthread": ("-k", "gthread", "-w", "2", "--threads", "4")}
APPS = {"bare": "benchmarks.apps:bare()", "exporter": "benchmarks.production:exporter_app()",
        "hookwatch": "benchmarks.apps:hookwatch()"}
WRK_THREADS, CONNECTIONS = 2, 4


def exporter_app() -> Any:
    """The bare app with prometheus_flask_exporter's gunicorn multiprocess class."""
    from prometheus_flask_exporter.multiprocess import GunicornPrometheusMetrics

    from .apps import bare

    return bare(lambda app: app.extensions.__setitem__(
        "benchmark_exporter", GunicornPrometheusMetrics(app)))


def _start(name: str, workers: str, workdir: str) -> loopback.Server:
    kind, app, slug = VARIANTS.get(name, (name, APPS.get(name), name))
    env = {"BENCH_VARIANT": kind}
    metrics_url = None
    if kind != "bare":
        directory = os.path.join(workdir, f"{slug}-{workers}-metrics")
        os.makedirs(directory)
        env["PROMETHEUS_MULTIPROC_DIR"] = directory
    if kind == "exporter":
        port = loopback._free_port()
        env["BENCH_METRICS_PORT"] = str(port)
        metrics_url = f"http://{loopback.HOST}:{port}/metrics"
    # Started as its kind, so the count check reads its metrics and log as that kind's.
    server = loopback._start(kind, workdir, CONFIG, app, WORKERS[workers], env,
                             slug=f"{slug}-{workers}")
    server.metrics_url = metrics_url
    return server


def run(workers: tuple[str, ...] = tuple(WORKERS), seconds: float = 2, rounds: int = 8,
        routes: tuple[tuple[str, str, str], ...] = ROUTES, warmup: bool = True
        ) -> tuple[dict[str, Any], list[str]]:
    """Worker set-up -> route -> variant -> req/s, ratio to bare, p50, p99 (medians over
    rounds) and requests; and the problems of the count check and of wrk. ``warmup`` first
    loads each variant for one unrecorded second per route."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package 'wrk')")
    names = list(NAMES)
    table: dict[str, Any] = {}
    problems: list[str] = []
    for kind in workers:
        runs: dict[tuple[str, str], list[loopback.Run]] = {
            (n, label): [] for n in names for label, _, _ in routes}
        with tempfile.TemporaryDirectory(prefix="hookwatch-production-") as workdir:
            servers: dict[str, loopback.Server] = {}
            try:
                for name in names:
                    servers[name] = _start(name, kind, workdir)
                for name, server in servers.items() if warmup else ():
                    for label, path, _ in routes:
                        server.served[label] += loopback._wrk(
                            server.port, path, 1, CONNECTIONS, WRK_THREADS).requests
                        server.wrk_runs[label] += 1
                for round_number in range(rounds):
                    shift = round_number % len(names)
                    for label, path, _ in routes:
                        for name in names[shift:] + names[:shift]:
                            server = servers[name]
                            result = loopback._wrk(server.port, path, seconds, CONNECTIONS,
                                                   WRK_THREADS)
                            server.served[label] += result.requests
                            server.wrk_runs[label] += 1
                            runs[name, label].append(result)
                            if result.errors:
                                problems.append(f"{kind} {name} {label}: {result.errors} "
                                                "errors in wrk")
                time.sleep(0.5)  # the last in-flight requests finish before counting
                for server in servers.values():
                    problems += [f"{kind} {problem}"
                                 for problem in loopback._check(server, CONNECTIONS)]
            finally:
                for server in servers.values():
                    loopback._stop(server)
        table[kind] = {label: {name: loopback._summary(runs[name, label], runs["bare", label])
                               for name in names}
                       for label, _, _ in routes}
    return table, problems
