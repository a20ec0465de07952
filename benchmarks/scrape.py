"""Scrape benchmark: how long a ``GET /metrics`` takes, and how big it is, with realistic
series counts.

An app with 20 routes (``/lesson/<i>/<name>``) is sent one request for each route, method
(GET, POST, PUT) and status (200, 302, 400, 404, 500): 300 requests, so the duration
histogram has 300 series, each with its buckets. Then ``GET /metrics`` is timed as a WSGI
call (the whole request: the app's hooks, the render, the body), as Prometheus text and as
OpenMetrics (``Accept``). Set-ups, each in a fresh interpreter of its own (prometheus-client
chooses its value storage at import, and process-wide switches stay in one process):

- hookwatch, single process (``Hookwatch(app, registry=...)``);
- prometheus_flask_exporter's defaults, single process, for comparison (it labels by raw
  path: one path per route here, so the same number of series);
- hookwatch in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set): 4 worker processes
  each serve the 300 requests and exit, then a fifth serves the timed scrapes, which merge
  every worker's files.

And the scrape of a production deployment (:func:`run_slots`): 8 gunicorn workers' slot
files (``app.hookwatch.multiproc.enable(8)``, as hookwatch's gunicorn hooks make them),
each holding the series a day of the default traffic mix (``app/traffic/plan.py``)
creates: its routes × statuses, each observed at several durations, plus the probes and
the scrape. ``Metrics.render`` is timed in the process that made them, as text and
OpenMetrics, with hookwatch's duration buckets and with OpenTelemetry's default ones
(``DURATION_BUCKETS[4:]``, without the four sub-millisecond buckets).

``python -m benchmarks.scrape`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from flask import Flask
from prometheus_client import CollectorRegistry

from .inprocess import call, make_environ

__all__ = ["METHODS", "ROUTES", "STATUSES", "build", "fill", "measure", "mix_series", "run",
           "run_slots"]

ROUTES = [f"/lesson/{i}/<name>" for i in range(20)]
METHODS = ("GET", "POST", "PUT")
STATUSES = (200, 302, 400, 404, 500)
FORMATS = {"text": "text/plain",
           "openmetrics": "application/openmetrics-text; version=1.0.0; charset=utf-8"}
KINDS = ("hookwatch", "exporter")
# The statuses each kind of the default traffic mix is answered with (others: 200).
MIX_STATUSES = {"users": (200, 404), "redirect": (302,), "bad": (400,), "missing": (404,),
                "boom": (500,)}
# Series a deployment has besides the mix's: the probes and the scrape itself.
PROBES = (("/healthz", 200), ("/readyz", 200), ("/metrics", 200))
# Each series is observed at these durations (different buckets), in every worker.
DURATIONS = (0.0003, 0.002, 0.03, 0.3)
BUCKET_SETS = ("hookwatch's buckets", "OpenTelemetry's default buckets")


def _answer(name: str, status: int) -> Any:
    headers = {"Location": "/"} if status == 302 else {}
    return f"lesson for {name}", status, headers


def build(kind: str, registry: CollectorRegistry | None = None) -> Flask:
    """A plain Flask app instrumented by ``kind`` (hookwatch or exporter), with the lesson
    routes; each answers the status its URL asks for (``/lesson/3/ada?status=404``)."""
    from flask import request

    from . import apps

    registry = registry or CollectorRegistry()
    if kind == "hookwatch":
        from app.hookwatch import Hookwatch, configure_logging

        stream = open(os.devnull, "w", encoding="utf-8")
        configure_logging("json", "INFO", stream)
        app = Flask("benchmarks.scrape")
        Hookwatch(app, registry=registry)
        app.extensions[apps.LOG_KEY] = stream  # closed by apps.close_logs
    elif kind == "exporter":
        app = Flask("benchmarks.scrape")
        apps._exporter_metrics(app, registry)
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    for index, rule in enumerate(ROUTES):
        app.add_url_rule(rule, f"lesson_{index}",
                         lambda name: _answer(name, int(request.args.get("status", 200))),
                         methods=list(METHODS))
    return app


def fill(app: Flask) -> int:
    """Send one request per route, method and status; return how many were answered as
    asked."""
    client = app.test_client()
    answered = 0
    for rule in ROUTES:
        path = rule.replace("<name>", "ada")
        for method in METHODS:
            for status in STATUSES:
                response = client.open(path, method=method, query_string={"status": status})
                answered += response.status_code == status
    return answered


def measure(app: Flask, repeats: int) -> dict[str, dict[str, float]]:
    """Median, min and max milliseconds per ``GET /metrics`` (the thread's CPU time, as
    in-process), and the body's size, per format; the formats alternate from one scrape to
    the next."""
    environs = {name: make_environ("/metrics", {"Accept": accept})
                for name, accept in FORMATS.items()}
    timings: dict[str, list[float]] = {name: [] for name in FORMATS}
    bodies = {name: call(app, environ) for name, environ in environs.items()}  # warm-up
    for _ in range(repeats):
        for name, environ in environs.items():
            started = time.thread_time()
            bodies[name] = call(app, environ)
            timings[name].append(time.thread_time() - started)
    return {
        name: {
            "ms": statistics.median(timings[name]) * 1e3,
            "min_ms": min(timings[name]) * 1e3,
            "max_ms": max(timings[name]) * 1e3,
            "bytes": len(bodies[name]),
            "lines": bodies[name].count(b"\n"),
        }
        for name in FORMATS
    }


def _in_subprocess(args: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "benchmarks.scrape", *args],
                          env=env, check=True, timeout=300, capture_output=True, text=True)
    return done.stdout


def run(repeats: int = 15, workers: int = 4) -> tuple[dict[str, Any], list[str]]:
    """Every scrape measurement, keyed by set-up; and the problems (a fill request not
    answered as asked)."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    results: dict[str, Any] = {}
    problems: list[str] = []
    expected = len(ROUTES) * len(METHODS) * len(STATUSES)
    for kind in KINDS:
        figures = json.loads(_in_subprocess(["--single", kind, "--repeats", str(repeats)], env))
        if figures.pop("answered") != expected:
            problems.append(f"scrape, {kind}: not every fill request answered as asked")
        results[f"{kind}, single process"] = figures
    with tempfile.TemporaryDirectory(prefix="hookwatch-scrape-") as directory:
        env["PROMETHEUS_MULTIPROC_DIR"] = directory
        for _ in range(workers):
            if int(_in_subprocess(["--fill"], env)) != expected:
                problems.append("scrape, multiprocess: not every fill request answered as asked")
        figures = json.loads(_in_subprocess(["--render", "--repeats", str(repeats)], env))
        files = len(os.listdir(directory))
    results[f"hookwatch, multiprocess ({workers} workers' files, {files} files)"] = figures
    return results, problems


def mix_series() -> list[tuple[str, int]]:
    """(route, status) of every duration series the default traffic mix creates, plus the
    probes' and the scrape's."""
    from app.traffic.plan import DEFAULT_MIX, KINDS as MIX_KINDS

    rng = random.Random(0)
    series = [(MIX_KINDS[kind](rng).route, status)
              for kind in DEFAULT_MIX for status in MIX_STATUSES.get(kind, (200,))]
    return series + list(PROBES)


def _slots(workers: int, otel: bool, repeats: int) -> dict[str, Any]:
    """In a process of its own: ``workers`` slots' files filled by forked children, then
    ``Metrics.render`` timed (the thread's CPU time) per format."""
    from app.hookwatch import multiproc

    setup = multiproc.enable(workers)
    from app.hookwatch.metrics import DURATION_BUCKETS, Metrics

    buckets = DURATION_BUCKETS[4:] if otel else DURATION_BUCKETS
    series = mix_series()
    for _ in range(workers):
        setup.slots.lend()
        pid = os.fork()
        if pid == 0:  # a worker: record the day's series, then leave without cleaning up
            metrics = Metrics(CollectorRegistry(), "bench", buckets)
            metrics.precreate()
            metrics.ready.set(1)
            metrics.warmup_duration.set(0.01)
            for route, status in series:
                for seconds in DURATIONS:
                    metrics.record_request("GET", route, status, seconds, 0, 700, None,
                                           (0.0001, 0.0002, 0.0001, 0.00005))
            metrics.count_exception("/boom", "RuntimeError")
            os._exit(0)
        setup.slots.bind(pid)
        os.waitpid(pid, 0)
    metrics = Metrics(CollectorRegistry(), "bench", buckets)
    timings: dict[str, list[float]] = {name: [] for name in FORMATS}
    bodies = {name: metrics.render(accept)[0] for name, accept in FORMATS.items()}
    for _ in range(repeats):
        for name, accept in FORMATS.items():
            started = time.thread_time()
            bodies[name] = metrics.render(accept)[0]
            timings[name].append(time.thread_time() - started)
    figures = {name: {"ms": statistics.median(timings[name]) * 1e3,
                      "min_ms": min(timings[name]) * 1e3, "max_ms": max(timings[name]) * 1e3,
                      "bytes": len(bodies[name]), "lines": bodies[name].count(b"\n")}
               for name in FORMATS}
    return {"files": len(setup.files()), "series": len(series), **figures}


def run_slots(repeats: int = 30, workers: int = 8) -> dict[str, Any]:
    """``Metrics.render`` with ``workers`` workers' slot files of the default mix's series,
    with hookwatch's duration buckets and with OpenTelemetry's; each in a fresh
    interpreter, so the multiprocess set-up stays out of this process."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    results: dict[str, Any] = {}
    for otel, buckets in enumerate(BUCKET_SETS):
        figures = json.loads(_in_subprocess(
            ["--slots", str(workers), "--repeats", str(repeats), *(["--otel"] * otel)], env))
        files, series = figures.pop("files"), figures.pop("series")
        results[f"hookwatch, {workers} workers' files ({files} files, {series} duration "
                f"series each), {buckets}"] = figures
    return results


def _main() -> None:
    parser = argparse.ArgumentParser(description="/metrics scrape benchmark")
    parser.add_argument("--single", choices=KINDS, help="one single-process set-up")
    parser.add_argument("--fill", action="store_true", help="multiprocess worker: fill")
    parser.add_argument("--render", action="store_true", help="multiprocess: time the merge")
    parser.add_argument("--slots", type=int, metavar="N",
                        help="N workers' slot files of the default mix; time Metrics.render")
    parser.add_argument("--otel", action="store_true",
                        help="with --slots: OpenTelemetry's default duration buckets")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    if args.slots:
        print(json.dumps(_slots(args.slots, args.otel, args.repeats)))
    elif args.single:
        app = build(args.single)
        answered = fill(app)
        print(json.dumps({"answered": answered, **measure(app, args.repeats)}))
    elif args.fill:
        print(fill(build("hookwatch")))
    elif args.render:
        print(json.dumps(measure(build("hookwatch"), args.repeats)))
    else:
        results, problems = run(args.repeats)
        results.update(run_slots())
        print(json.dumps({"results": results, "problems": problems}, indent=2))


if __name__ == "__main__":
    _main()
