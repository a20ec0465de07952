"""Replicas: several app processes on their own ports, scraped by a real Prometheus as
separate targets of one job; PromQL sums across instances must be exact."""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_binary
from tests.servers import ServerProcess, free_port, python, run_load, wait_for

from .loadmix import expected_counts, load_size, plan

JOB = "hookwatch"
NOT_LOAD = 'http_route!~"/readyz|/healthz"'  # the readiness probes are not part of the load


@pytest.fixture
def prometheus_binary() -> str:
    return require_binary("prometheus")


def query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def by_labels(result: list[dict[str, Any]], *names: str) -> dict[tuple[str, ...], int]:
    return {tuple(r["metric"].get(n, "") for n in names): int(float(r["value"][1]))
            for r in result}


def write_config(path: Path, targets: list[str]) -> None:
    # JSON is valid YAML.
    path.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms",
                   "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": targets}]}],
    }))


def test_promql_sums_across_replicas_are_exact(prometheus_binary: str, tmp_path: Path) -> None:
    """Two replicas (a threaded dev server and a forking one with multiprocess metrics) behind
    one Prometheus job: per-instance and summed counts equal what each replica was sent."""
    total = min(load_size() // 2, 2_000)
    share_a = total * 3 // 5
    load_a, load_b = plan(share_a), plan(total - share_a, start=share_a)
    ports = [free_port(), free_port()]
    commands = [
        [python(), "manage.py", "runserver", "--threaded", "-h", "127.0.0.1", "-p", str(ports[0])],
        [python(), "manage.py", "runserver", "--processes", "2", "-h", "127.0.0.1",
         "-p", str(ports[1])],
    ]
    instances = [f"127.0.0.1:{port}" for port in ports]
    config = tmp_path / "prometheus.yml"
    write_config(config, instances)
    prometheus_port = free_port()
    base = f"http://127.0.0.1:{prometheus_port}"
    prometheus_args = [
        prometheus_binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn",
    ]
    with ServerProcess(commands[0], ports[0], tmp_path, name="replica-a") as replica_a, \
            ServerProcess(commands[1], ports[1], tmp_path, name="replica-b") as replica_b, \
            ServerProcess(prometheus_args, prometheus_port, tmp_path, env=dict(os.environ),
                          name="prometheus") as prometheus:
        replica_a.wait_ready()
        replica_b.wait_ready()
        prometheus.wait_ready("/-/ready", timeout=60)
        wait_for(lambda: by_labels(query(base, f'sum(up{{job="{JOB}"}})')) == {(): 2}, 30,
                 "both replicas up in Prometheus")

        results = [run_load(replica_a.port, [r.path for r in load_a]),
                   run_load(replica_b.port, [r.path for r in load_b])]
        assert [r.errors for r in results] == [[], []]

        expected = Counter({(route, status): n
                            for (_, route, status), n in expected_counts(load_a + load_b).items()})
        summed = (f"sum by (http_route, http_response_status_code) "
                  f'(http_server_request_duration_seconds_count{{job="{JOB}",{NOT_LOAD}}})')
        seen: dict[str, Any] = {}

        def converged() -> bool:
            seen["sum"] = by_labels(query(base, summed), "http_route", "http_response_status_code")
            return seen["sum"] == dict(expected)

        try:
            wait_for(converged, 30, "Prometheus to scrape the final counts")
        except AssertionError:
            assert seen.get("sum") == dict(expected)  # shows the difference
            raise
        per_instance = by_labels(query(base, (
            f"sum by (instance) "
            f'(http_server_request_duration_seconds_count{{job="{JOB}",{NOT_LOAD}}})')), "instance")
        assert per_instance == {(instances[0],): len(load_a), (instances[1],): len(load_b)}
        total_query = (f'sum(http_server_request_duration_seconds_count{{job="{JOB}",{NOT_LOAD}}})')
        assert by_labels(query(base, total_query)) == {(): total}
        in_flight = f'sum(http_server_active_requests{{job="{JOB}"}})'
        assert by_labels(query(base, in_flight)) == {(): 0}
        errors = (f"sum(http_server_request_duration_seconds_count"
                  f'{{job="{JOB}",http_response_status_code=~"5.."}})')
        assert by_labels(query(base, errors)) == {
            (): sum(1 for r in load_a + load_b if r.route == "/boom")}
