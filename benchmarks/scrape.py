"""Scrape benchmark: ``/metrics`` render time and size with realistic series counts.

Series: 20 routes x 3 methods x 5 status codes in the duration histogram (300 series of 17
samples), the body-size histograms per route and method, the in-flight gauges, the phase
histogram, a few exception counters. Rendered as Prometheus text and as OpenMetrics:

- single process (histograms are ``app.histograms.InMemoryHistogram``, no ``_created``
  series: hookwatch disables them, dashboards do not use them);
- multiprocess: 4 worker processes each write their files, then a fifth renders the merge.

prometheus-client chooses its value storage when it is imported, so each multiprocess role
runs in its own interpreter: ``python -m benchmarks.scrape --fill`` / ``--render``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

__all__ = ["fill", "measure", "run"]

ROUTES = [f"/lesson/{i}/<name>" for i in range(20)]
METHODS = ("GET", "POST", "PUT")
STATUSES = (200, 302, 400, 404, 500)
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain"


def fill(metrics: Any) -> None:
    """Create every series once, as a process that served each combination would."""
    for route in ROUTES:
        for method in METHODS:
            for status in STATUSES:
                exemplar = None if metrics.multiprocess else {"request_id": "0" * 32}
                metrics.record_request(method, route, status, 0.012, 120, 2048, exemplar,
                                       (0.0001, 0.01, 0.0001), 0.0001)
        metrics.count_exception(route, "RuntimeError")
    metrics.precreate()


def measure(metrics: Any, repeats: int) -> dict[str, dict[str, float]]:
    """Median, min and max milliseconds per render, and the body size, per format."""
    results = {}
    for name, accept in (("text", TEXT), ("openmetrics", OPENMETRICS)):
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            body, _ = metrics.render(accept)
            timings.append(time.perf_counter() - started)
        results[name] = {
            "ms": statistics.median(timings) * 1e3,
            "min_ms": min(timings) * 1e3,
            "max_ms": max(timings) * 1e3,
            "bytes": len(body),
            "lines": body.count(b"\n"),
        }
    return results


def _single_process(repeats: int) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from app.metrics import Metrics

    metrics = Metrics(CollectorRegistry(), "bench")
    fill(metrics)
    return {"single process": measure(metrics, repeats)}


def _multiprocess(repeats: int, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hookwatch-scrape-") as directory:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
        command = [sys.executable, "-m", "benchmarks.scrape"]
        for _ in range(workers):
            subprocess.run([*command, "--fill"], env=env, check=True, timeout=120)
        done = subprocess.run(
            [*command, "--render", "--repeats", str(repeats)],
            env=env, check=True, timeout=300, capture_output=True, text=True,
        )
        files = len(os.listdir(directory))
    return {f"multiprocess, {workers} workers' files ({files} files)": json.loads(done.stdout)}


def run(repeats: int = 30, workers: int = 4) -> dict[str, Any]:
    """Every scrape measurement, keyed by set-up."""
    return {**_single_process(repeats), **_multiprocess(max(3, repeats // 3), workers)}


def _main() -> None:
    parser = argparse.ArgumentParser(description="hookwatch /metrics render benchmark")
    parser.add_argument("--fill", action="store_true", help="multiprocess worker: write series")
    parser.add_argument("--render", action="store_true", help="multiprocess: time the merge")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    if args.fill or args.render:
        from prometheus_client import CollectorRegistry

        from app.metrics import Metrics

        metrics = Metrics(CollectorRegistry(), "bench")
        if args.fill:
            fill(metrics)
        else:
            print(json.dumps(measure(metrics, args.repeats)))
        return
    print(json.dumps(run(args.repeats), indent=2))


if __name__ == "__main__":
    _main()
