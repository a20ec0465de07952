"""End to end on 127.0.0.1: the real app, Debian's real Prometheus, the real rules.

Each run starts the app and a Prometheus whose config is monitoring/prometheus.yml with
only what a test must change (1 s intervals, the target's address, absolute rule paths),
sends a known mix of requests, then asks Prometheus's HTTP API what Grafana would ask:
every dashboard query and every recording rule must return data, and the request counts
must equal what was sent. Every process started here is stopped in a ``finally``.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from tests.conftest import require_binary

START_TIMEOUT = 20.0  # seconds for a server to answer
SETTLE_TIMEOUT = 15.0  # seconds for Prometheus to scrape and evaluate what was sent
# What Grafana would substitute. $__rate_interval: the whole run fits in one minute, so
# every rate sees all of it, as a dashboard opened right after the traffic would.
GRAFANA_VALUES = {"__rate_interval": "1m", "__interval": "5s", "__range": "5m"}
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)[^}]*\}")

# (path, http_route label, status, how many): success, 4xx, unmatched 404, 500 and slow.
TRAFFIC = [
    ("/", "/", 200, 12),
    ("/user/alice", "/user/<name>", 200, 6),
    ("/users/1", "/users/<int:user_id>", 200, 4),
    ("/users/999", "/users/<int:user_id>", 404, 4),
    ("/no/such/page", "", 404, 4),
    ("/bad", "/bad", 400, 2),
    ("/boom", "/boom", 500, 4),
    ("/slow?ms=300", "/slow", 200, 2),
]


# -- processes --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(args: list[str], log: Path, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` in its own session, output to ``log``; always stop it afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **popen
        )
        try:
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (gunicorn's master then stops its workers); SIGKILL the session if stuck."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def wait_for(check: Callable[[], Any], timeout: float, what: str, log: Path | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, urllib.error.URLError) as error:
            last = error
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last: {last!r}"
                + (f"\n--- {log.name}:\n{tail(log)}" if log else ""))


# -- HTTP -------------------------------------------------------------------------------------

def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """GET ``url``; return status, headers and body, for error statuses too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def api(base: str, path: str, **params: str) -> Any:
    """Call Prometheus's HTTP API and return its ``data``."""
    status, _, body = get(f"{base}{path}?{urllib.parse.urlencode(params)}")
    payload = json.loads(body)
    assert status == 200 and payload["status"] == "success", f"{path} {params}: {payload}"
    return payload["data"]


def query(base: str, expr: str) -> list[dict[str, Any]]:
    return api(base, "/api/v1/query", query=expr)["result"]


def send_traffic(base: str) -> tuple[dict[tuple[str, str], int], set[str]]:
    """Send TRAFFIC in two waves (so rates see an increase between scrapes).

    Returns the expected count per (route, status) and the request ids the app answered with.
    """
    def one(path: str, status: int) -> str:
        got, headers, _ = get(base + path)
        assert got == status, f"GET {path}: {got}, expected {status}"
        return headers["X-Request-ID"]

    expected: dict[tuple[str, str], int] = {}
    ids: set[str] = set()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for wave in range(2):
            if wave:
                time.sleep(2.5)
            jobs = [(path, status) for path, _, status, n in TRAFFIC for _ in range(n // 2)]
            ids.update(pool.map(lambda job: one(*job), jobs))
    for _, route, status, n in TRAFFIC:
        expected[(route, str(status))] = expected.get((route, str(status)), 0) + n
    return expected, ids


# -- Prometheus -------------------------------------------------------------------------------

@pytest.fixture
def start_prometheus(repo, tmp_path) -> Callable[[int], Any]:
    """``start_prometheus(app_port)``: a running Prometheus scraping the app; its API base URL."""
    stack: list[Any] = []

    def start(app_port: int) -> str:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(derived_config(repo, app_port, port)))
        log = tmp_path / "prometheus.log"
        context = running(
            [require_binary("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--enable-feature=exemplar-storage"],
            log,
        )
        context.__enter__()
        stack.append(context)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: get(base + "/-/ready")[0] == 200, START_TIMEOUT, "Prometheus", log)
        return base

    try:
        yield start
    finally:
        for context in reversed(stack):
            context.__exit__(None, None, None)


def derived_config(repo: Path, app_port: int, prometheus_port: int) -> dict[str, Any]:
    """monitoring/prometheus.yml with 1 s intervals and loopback targets, nothing else changed."""
    monitoring = repo / "monitoring"
    config = yaml.safe_load((monitoring / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(monitoring / pattern) for pattern in config["rule_files"]]
    targets = {"hookwatch": f"127.0.0.1:{app_port}", "prometheus": f"127.0.0.1:{prometheus_port}"}
    for job in config["scrape_configs"]:
        job["scrape_interval"] = "1s"
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    return config


def grafana_substitute(expr: str) -> str:
    """Replace Grafana's variables: built-ins by GRAFANA_VALUES, dashboard ones by "all"."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return GRAFANA_VALUES.get(name, ".*")

    return VARIABLE.sub(value, expr)


def finite(result: list[dict[str, Any]]) -> bool:
    """At least one series with a real number (histogram_quantile over zero rate gives NaN)."""
    return any(math.isfinite(float(series["value"][1])) for series in result)


def app_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"PROMETHEUS_MULTIPROC_DIR", "METRICS_TOKEN", "HOOKWATCH_MULTIPROC_DIR_OWNED"}}
    env.update(HOOKWATCH_CONFIG="production", SECRET_KEY="live-stack-test", LOG_FORMAT="json")
    return env


def wait_for_target_up(prometheus: str) -> None:
    wait_for(lambda: query(prometheus, 'up{job="hookwatch"} == 1'), START_TIMEOUT,
             "Prometheus's first successful scrape of the app")


def dashboard_targets(repo: Path) -> list[tuple[str, dict[str, Any]]]:
    dashboard = json.loads((repo / "grafana" / "dashboards" / "hookwatch.json").read_text())
    return [(panel["title"], target) for panel in dashboard["panels"] if panel["type"] != "row"
            for target in panel["targets"]]


# -- the runs ---------------------------------------------------------------------------------

def test_gunicorn_multiprocess_every_panel_and_rule_has_data(repo, tmp_path, start_prometheus):
    """Two gunicorn workers (multiprocess mode): exact counts, every query non-empty."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    # As in the container: a given directory, here with a file left by an earlier run that
    # gunicorn.conf.py must remove (the collector could not even read this one).
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    stale = multiproc / "counter_99999.db"
    stale.write_bytes(b"left over from an earlier run")
    env = app_env() | {"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    with running([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
                  "--bind", f"127.0.0.1:{port}", "--workers", "2", "wsgi:app"],
                 log, cwd=repo, env=env):
        base = f"http://127.0.0.1:{port}"
        # /metrics is not counted, so waiting on it leaves the request counts untouched.
        wait_for(lambda: get(base + "/metrics")[0] == 200, START_TIMEOUT, "gunicorn", log)
        prometheus = start_prometheus(port)
        wait_for_target_up(prometheus)
        expected, _ = send_traffic(base)

        def counts() -> dict[tuple[str, str], int]:
            result = query(prometheus, 'sum by (http_route, http_response_status_code) '
                                       '(http_server_request_duration_seconds_count{job="hookwatch"})')
            return {(s["metric"].get("http_route", ""), s["metric"]["http_response_status_code"]):
                    int(float(s["value"][1])) for s in result}

        wait_for(lambda: counts() == expected, SETTLE_TIMEOUT,
                 f"Prometheus to count exactly {expected}", log)
        total = query(prometheus, 'sum(http_server_request_duration_seconds_count{job="hookwatch"})')
        assert float(total[0]["value"][1]) == sum(n for *_, n in TRAFFIC)

        for title, target in dashboard_targets(repo):
            expr = grafana_substitute(target["expr"])
            result = wait_for(lambda: (r := query(prometheus, expr)) and finite(r) and r,
                              SETTLE_TIMEOUT, f"data for panel {title!r}: {expr}")
            assert result, title

        records = sorted({
            rule["record"]
            for path in (repo / "monitoring" / "rules").glob("*.yml")
            for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "record" in rule
        })
        for record in records:
            wait_for(lambda: finite(query(prometheus, record)), SETTLE_TIMEOUT,
                     f"a value for recording rule {record}")

        groups = api(prometheus, "/api/v1/rules")["groups"]
        loaded = [rule for group in groups for rule in group["rules"]]
        assert {r["name"] for r in loaded if r["type"] == "recording"} == set(records)
        assert all(rule["health"] == "ok" for rule in loaded), [
            (r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"]

        assert not stale.exists()
        # One set of files per worker pid: both workers wrote through multiprocess mode.
        assert len({path.stem.rsplit("_", 1)[1] for path in multiproc.glob("histogram_*.db")}) == 2

        dashboard = json.loads((repo / "grafana" / "dashboards" / "hookwatch.json").read_text())
        for variable in dashboard["templating"]["list"]:
            selector, label = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]).groups()
            values = api(prometheus, f"/api/v1/label/{label}/values",
                         **{"match[]": grafana_substitute(selector)})
            assert values, f"variable {variable['name']} has no values"
        assert {route for route, _ in expected if route} <= set(
            api(prometheus, "/api/v1/label/http_route/values"))
    # child_exit called mark_process_dead: no live gauge of a dead worker is left to sum.
    assert not list(multiproc.glob("gauge_live*.db"))


EXEMPLAR_SERVERS = {
    "threaded dev server": ["manage.py", "runserver", "--threaded", "-D", "-R", "-h",
                            "127.0.0.1", "-p", "{port}"],
    "gunicorn, 3 workers": ["-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind",
                            "127.0.0.1:{port}", "--workers", "3", "wsgi:app"],
}


@pytest.mark.parametrize("server", EXEMPLAR_SERVERS)
def test_exemplars_carry_request_ids(repo, tmp_path, start_prometheus, server):
    """One process or several workers (multiprocess mode): Prometheus stores exemplars
    whose request_id the app answered with and logged."""
    port = free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, *(arg.format(port=port) for arg in EXEMPLAR_SERVERS[server])]
    with running(command, log, cwd=repo, env=app_env()):
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: get(base + "/metrics")[0] == 200, START_TIMEOUT, server, log)
        prometheus = start_prometheus(port)
        wait_for_target_up(prometheus)
        _, sent_ids = send_traffic(base)
        window = {"start": str(time.time() - 300), "end": str(time.time() + 60)}

        def exemplar_ids(expr: str) -> set[str]:
            found = api(prometheus, "/api/v1/query_exemplars", query=expr, **window)
            return {e["labels"].get("request_id") for series in found for e in series["exemplars"]}

        ids = wait_for(lambda: exemplar_ids('http_server_request_duration_seconds_bucket{job="hookwatch"}'),
                       SETTLE_TIMEOUT, "exemplars in Prometheus", log)
        assert None not in ids, "an exemplar without request_id"
        assert ids <= sent_ids, f"exemplar ids the app never answered with: {ids - sent_ids}"
        lines = [json.loads(text) for text in log.read_text().splitlines() if text.startswith("{")]
        logged = {line.get("request_id") for line in lines
                  if line.get("event") in {"request_finished", "request_failed"}}
        assert ids <= logged, f"exemplar ids with no log line: {ids - logged}"

        for title, target in dashboard_targets(repo):
            if target.get("exemplar"):
                assert exemplar_ids(grafana_substitute(target["expr"])), f"no exemplars for {title!r}"
