"""gunicorn workers recycled by ``--max-requests``: the metrics directory stays bounded, the
scrape stays as fast as it started, and every request is counted exactly.

prometheus-client names multiprocess files after the pid, so without hookwatch's server hooks
every recycled worker leaves a file set behind that each scrape must read: the directory
and the scrape time grow with the traffic.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.servers import (
    ServerProcess,
    app_env,
    free_port,
    http_get,
    python,
    request_counts,
    run_load,
    scrape,
)

WORKERS = 4
MAX_REQUESTS = 20
BATCHES = 6
BATCH = 400  # requests per batch: 2,400 in all, about 120 worker lifetimes
FILE_KINDS = 5  # counter, histogram, gauge_max, gauge_livesum, gauge_livemin


def scrape_ms(port: int, times: int = 7) -> float:
    """The fastest of ``times`` scrapes of /metrics, in milliseconds: what reading the files
    costs, without the moments a worker is being replaced."""
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        status, _, _ = http_get(port, "/metrics")
        durations.append((time.perf_counter() - started) * 1000)
        assert status == 200
    return min(durations)


def test_recycled_workers_keep_the_directory_bounded_and_every_count(tmp_path: Path) -> None:
    directory = tmp_path / "multiproc"
    env = app_env(PROMETHEUS_MULTIPROC_DIR=str(directory))
    port = free_port()
    command = [python(), "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}",
               "-k", "sync", "-w", str(WORKERS), "--threads", "1",
               "--max-requests", str(MAX_REQUESTS), "--max-requests-jitter", "0", "wsgi:app"]
    paths = ["/", "/user/ada", "/no-such-page", "/bad"]
    with ServerProcess(command, port, tmp_path, env, "gunicorn") as server:
        server.wait_ready()
        before = request_counts(scrape(port))
        files, scrapes = [], []
        for _ in range(BATCHES):
            result = run_load(port, [paths[n % len(paths)] for n in range(BATCH)], clients=8)
            assert result.errors == [], result.errors[:5]
            files.append(len(list(directory.glob("*.db"))))
            scrapes.append(scrape_ms(port))
        after = request_counts(scrape(port))

    counted = {key: after[key] - before[key] for key in after if after[key] != before[key]}
    assert counted == {
        ("GET", "/", "200"): BATCHES * BATCH // 4,
        ("GET", "/user/<name>", "200"): BATCHES * BATCH // 4,
        ("GET", "", "404"): BATCHES * BATCH // 4,
        ("GET", "/bad", "400"): BATCHES * BATCH // 4,
    }
    # One file set per worker slot, however many workers came and went.
    assert max(files) <= WORKERS * FILE_KINDS, files
    # Flat: the last scrape takes about what the first did once every series existed
    # (pid-named files made it grow linearly, to several times that within this run).
    assert scrapes[-1] <= 2 * scrapes[0] + 15, scrapes
    print(f"\nfiles after each batch: {files}; scrape ms: {[round(s, 1) for s in scrapes]}")
