"""The dashboard in real headless Chromium, after real traffic from ``manage.py traffic``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = ROOT / "docs" / "dashboard.png"


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


def test_dashboard_after_traffic(browser, live_server, artifacts):
    """During and after a traffic run the page shows the numbers /metrics holds, draws
    every chart, and a screenshot is kept as an artifact."""
    browser.set_window_size(1366, 900)
    browser.get(f"{live_server.url}/dashboard?refresh=500")
    wait_for(lambda: browser.find_element("id", "dashboard").get_attribute("data-polls"),
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
    wait_for(lambda: tile(browser, "requests") == str(total), message=f"{total} requests shown")
    assert page_routes(browser) == expected
    errors = sum(n for (_, klass), n in expected.items() if klass == "5xx")
    assert errors > 0
    assert float(tile(browser, "errors")) == pytest.approx(errors / total)
    assert float(tile(browser, "rate")) > 0
    assert float(tile(browser, "p95")) > 0
    assert tile(browser, "inflight") == "0"
    assert tile(browser, "ready") == "1"

    # Charts are drawn: lines for rates, bars for statuses, latency and phases.
    charts = drawn(browser)
    assert charts["chart-rate"] and all(segments >= 3 for segments in charts["chart-rate"])
    assert len(charts["chart-status"]) == 4
    assert len(charts["chart-latency"]) == 3 * min(10, charts["routes"])
    assert len(charts["chart-phases"]) == 4
    assert len(charts["chart-errors"]) == 2
    assert charts["recent"] > 0
    assert "error" not in browser.find_element("id", "status").get_attribute("class")

    # Watching was not counted: the page polled many times, the totals did not move.
    assert sum(metrics_counts(live_server).values()) == total
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1366, height)
    screenshot = artifacts / "dashboard.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("HOOKWATCH_UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(screenshot, DOCS_SCREENSHOT)
