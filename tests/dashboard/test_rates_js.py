"""static/rates.js on its own, in headless Chromium: rates from totals, resets and gaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RATES_JS = (ROOT / "app" / "dashboard" / "static" / "rates.js").read_text()


@pytest.fixture
def rates(page):
    """Call ``hookwatchRates.<name>(points, ...)`` in a blank page; the JavaScript arguments
    are the points and the numbers given; ``pick`` reads the total, ``value`` is the rate."""

    def call(name: str, points: list[dict[str, Any]], *numbers: float) -> Any:
        return page.execute_script(RATES_JS + f"""
            const R = window.hookwatchRates;
            const pick = (p) => p.requests;
            const value = (a, b) => R.rateBetween(a, b, pick);
            const [points, ...numbers] = arguments;
            return R.{name}(points, {"pick" if name == "recentRate" else "value"}, ...numbers);
        """, points, *numbers)

    return call


def points(*pairs: tuple[float, int]) -> list[dict[str, Any]]:
    return [{"time": t, "requests": n, "errors_5xx": 0, "in_flight": 0, "routes": {}}
            for t, n in pairs]


SMOOTH_S, MAX_GAP_S, WINDOW_S = 3, 15, 10


def test_rates_are_differences_over_time(rates):
    history = points((0, 0), (5, 50), (10, 150))
    assert rates("series", history, SMOOTH_S, MAX_GAP_S) == [[5, 10], [10, 20]]
    assert rates("recentRate", history, WINDOW_S, MAX_GAP_S) == 15


def test_each_rate_spans_at_least_the_smoothing(rates):
    """Polls a second apart after 5 s samples: each rate reaches back ≥ 3 s, no further."""
    history = points((0, 0), (5, 50), (6, 60), (7, 70), (8, 110), (9, 120))  # 9 - 3 = 6
    assert rates("series", history, SMOOTH_S, MAX_GAP_S) == [
        [5, 10], [6, 10], [7, 10], [8, 20], [9, 20]]


def test_a_drop_is_a_restart_and_a_new_baseline(rates):
    """No rate up to the point after the drop, a break in the line, then rates from it."""
    history = points((0, 0), (5, 50), (10, 3), (15, 53))
    assert rates("series", history, SMOOTH_S, MAX_GAP_S) == [[5, 10], None, [15, 10]]
    assert rates("recentRate", history, WINDOW_S, MAX_GAP_S) == 10
    assert rates("recentRate", history[:3], WINDOW_S, MAX_GAP_S) is None


def test_a_gap_is_a_new_baseline(rates):
    """Nothing sampled for longer than maxGapS: no average over the gap, a break instead."""
    history = points((0, 0), (5, 50), (65, 650), (70, 700))
    assert rates("series", history, SMOOTH_S, MAX_GAP_S) == [[5, 10], None, [70, 10]]
    assert rates("series", history, SMOOTH_S, 60) == [[5, 10], [65, 10], [70, 10]]


def test_recent_rate_covers_the_window_only(rates):
    history = points((0, 0), (5, 500), (10, 510), (15, 520))
    assert rates("recentRate", history, WINDOW_S, MAX_GAP_S) == 2
    assert rates("recentRate", history[:1], WINDOW_S, MAX_GAP_S) is None


def test_a_count_that_drops_alone_gives_zero_not_a_negative_rate(page):
    history = points((0, 10), (5, 20))
    history[0]["routes"], history[1]["routes"] = {"/": 10}, {"/": 4, "/x": 16}
    assert page.execute_script(RATES_JS + """
        const [a, b] = arguments[0];
        return window.hookwatchRates.rateBetween(a, b, (p) => p.routes["/"] || 0);
    """, history) == 0
