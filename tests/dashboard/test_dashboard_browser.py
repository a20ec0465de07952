"""The dashboard in real headless Chromium, opened after real traffic from ``manage.py traffic``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from app.dashboard.history import INTERVAL_S

ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = ROOT / "docs" / "dashboard.png"
TRAFFIC_S = 20


def metrics_counts(live_server) -> Counter:
    """Requests by (route, status class) from /metrics."""
    counts: Counter = Counter()
    for (name, labels), value in live_server.samples().items():
        if name == "http_server_request_duration_seconds_count":
            labels = dict(labels)
            counts[(labels["http_route"], labels["http_response_status_code"][0] + "xx")] += int(value)
    return counts


def wait_for(predicate, timeout: float = 10.0, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {message}")


def tile(browser, name: str) -> str:
    return browser.find_element("id", f"tile-{name}").get_attribute("data-value")


def page_routes(browser) -> Counter:
    """Requests by (route, status class) as the page's routes table shows them; read in one
    script, since the page rebuilds the table on every poll."""
    cells = browser.execute_script("""
        return [...document.querySelectorAll('#table-routes tbody tr')].flatMap(tr =>
            [...tr.querySelectorAll('td[data-status-class]')].map(td =>
                [tr.dataset.route, td.dataset.statusClass, Number(td.dataset.count)]));
    """)
    return Counter({(route, klass): count for route, klass, count in cells if count})


def drawn(browser) -> dict[str, list]:
    """What each chart holds right now: per chart, the segment count of each line or bar."""
    return browser.execute_script("""
        const out = {};
        for (const chart of document.querySelectorAll('svg.chart')) {
            out[chart.id] = [...chart.querySelectorAll('path.series, rect.bar')].map(el =>
                el.tagName === 'path' ? (el.getAttribute('d').match(/L/g) || []).length : 1);
        }
        out.recent = document.querySelectorAll('#table-recent tbody tr').length;
        out.routes = document.querySelectorAll('#table-routes tbody tr').length;
        return out;
    """)


def lines(browser, chart: str) -> dict[str, dict]:
    """The lines of a time chart by name, with the polls done when they were read: segments,
    the times of their first and last points, and the heights drawn (SVG y, 0 at the top)."""
    found, polls = browser.execute_script("""
        return [[...document.querySelectorAll(`#${arguments[0]} path.series`)].map(el => [
            el.dataset.name, (el.getAttribute('d').match(/L/g) || []).length,
            Number(el.dataset.from), Number(el.dataset.to),
            [...el.getAttribute('d').matchAll(/[ML][\\d.]+,([\\d.]+)/g)].map(m => Number(m[1]))]),
            document.getElementById('dashboard').dataset.polls];
    """, chart)
    return {name: {"segments": segments, "from": first, "to": last, "ys": ys, "polls": polls}
            for name, segments, first, last, ys in found}


def assert_page_shows(page: Any, expected: dict[tuple[str, str], int]) -> None:
    """The routes table, tiles and charts agree with ``expected`` (counts by route and
    status class, from /metrics) and nothing is in flight."""
    total = sum(expected.values())
    assert page_routes(page) == expected
    errors_5xx = sum(n for (_, klass), n in expected.items() if klass == "5xx")
    assert errors_5xx > 0
    assert float(tile(page, "errors")) == pytest.approx(errors_5xx / total)
    assert float(tile(page, "p95")) > 0
    assert tile(page, "inflight") == "0"
    assert tile(page, "ready") == "1"
    # Charts are drawn: bars for statuses, latency and phases, lines for errors.
    charts = drawn(page)
    assert len(charts["chart-status"]) == 4
    assert len(charts["chart-latency"]) == 3 * min(10, charts["routes"])
    assert len(charts["chart-phases"]) == 4
    assert len(charts["chart-errors"]) == 2
    assert charts["recent"] > 0
    assert "error" not in page.find_element("id", "status").get_attribute("class")


def test_dashboard_during_traffic(page, live_server):
    """Opened before a fast traffic run and polling every 500 ms, the page follows it: at
    the end it shows the numbers /metrics holds and draws every chart."""
    page.set_window_size(1366, 900)
    page.get(f"{live_server.url}/dashboard?refresh=500")
    wait_for(lambda: page.find_element("id", "dashboard").get_attribute("data-polls"),
             message="the first poll")

    done = subprocess.run(
        [sys.executable, "manage.py", "traffic", "--base-url", live_server.url,
         "--duration", "5", "--rate", "40", "--concurrency", "4", "--seed", "7",
         "--json", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    expected = metrics_counts(live_server)
    total = sum(expected.values())
    assert total == summary["requests"] > 100

    # The page catches up with the last requests within a poll or two.
    wait_for(lambda: tile(page, "requests") == str(total), message=f"{total} requests shown")
    assert_page_shows(page, expected)
    assert float(tile(page, "rate")) > 0
    rates = drawn(page)["chart-rate"]
    assert rates and all(segments >= 3 for segments in rates)

    # Watching was not counted: the page polled many times, the totals did not move.
    assert sum(metrics_counts(live_server).values()) == total
    severe = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []


def traffic_command(url: str) -> list[str]:
    """``manage.py traffic`` at its default rate and connections, for TRAFFIC_S seconds; to
    update docs/dashboard.png, exactly the default run the docs show (60 s)."""
    docs = os.environ.get("HOOKWATCH_UPDATE_DOCS_SCREENSHOT")
    duration = [] if docs else ["--duration", str(TRAFFIC_S)]
    return [sys.executable, "manage.py", "traffic", "--base-url", url, *duration,
            "--seed", "7", "--json", "--quiet"]


def test_dashboard_opened_after_traffic(page, live_server, logs, artifacts):
    """Opened after a traffic run, at its default refresh, the page's first poll already
    draws the run: rate and error lines from the app's history cover it, the tiles and
    routes table show what /metrics holds; later polls extend the lines. A screenshot is
    kept as an artifact."""
    done = subprocess.run(traffic_command(live_server.url), cwd=ROOT, capture_output=True,
                          text=True, timeout=90)
    ended = time.time()
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    expected = metrics_counts(live_server)
    total = sum(expected.values())
    assert total == summary["requests"] > 100

    page.set_window_size(1366, 900)
    page.get(f"{live_server.url}/dashboard")
    rate = wait_for(lambda: lines(page, "chart-rate"), message="the first poll's rate chart")
    errors = lines(page, "chart-errors")

    # The first poll (one, so none of this is the page's own) covers the run: from the
    # sample the warm-up took at the run's first request (the first rate is one interval
    # later) to the end; and its lines are not flat.
    [warmup] = logs.events("app_warmup_finished")
    first_sample = datetime.fromisoformat(warmup["timestamp"]).timestamp()
    busiest = rate["/"]
    assert busiest["polls"] == errors["5xx ratio"]["polls"] == "1"
    assert busiest["from"] == pytest.approx(first_sample + INTERVAL_S, abs=0.5)
    assert busiest["to"] >= ended
    assert busiest["segments"] >= TRAFFIC_S / INTERVAL_S - 1
    assert min(busiest["ys"]) < max(busiest["ys"])
    assert all(line["segments"] >= 3 for line in rate.values())
    share = errors["5xx ratio"]
    assert share["from"] == busiest["from"] and share["to"] >= ended
    assert min(share["ys"]) < max(share["ys"])

    assert tile(page, "requests") == str(total)
    assert_page_shows(page, expected)
    assert tile(page, "rate") != ""

    # The next poll appends to the history the page opened with.
    later = wait_for(lambda: (now := lines(page, "chart-rate")["/"])["polls"] != "1" and now,
                     message="a second poll")
    assert later["from"] == busiest["from"] and later["to"] > busiest["to"]
    assert later["segments"] == busiest["segments"] + 1

    # Watching was not counted: the page polled, the totals did not move.
    assert sum(metrics_counts(live_server).values()) == total
    severe = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []

    height = page.execute_script("return document.documentElement.scrollHeight")
    page.set_window_size(1366, height)
    screenshot = artifacts / "dashboard.png"
    assert page.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("HOOKWATCH_UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(screenshot, DOCS_SCREENSHOT)
