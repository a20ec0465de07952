"""Turn metric families and the ring of recent requests into the dashboard's JSON.

Pure: give it what ``registry.collect()`` (or ``MultiProcessCollector.collect()``) returns
and the ring's tuples; nothing here needs Flask. Latency percentiles are estimated from the
histogram buckets the way PromQL's ``histogram_quantile`` does, so they agree with Grafana.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable

from prometheus_client.metrics_core import Metric

from ..hookwatch.metrics import PHASES

__all__ = ["RecentRequest", "histogram_quantile", "snapshot"]

QUANTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
DURATION = "http_server_request_duration_seconds"
PHASE = "hookwatch_request_phase_duration_seconds"

# What the lifecycle appends to its ring for every counted request, in teardown.
RecentRequest = tuple[float, str, str, str, int, float]  # time, id, method, route, status, s


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Estimate quantile ``q`` from cumulative ``{upper bound: count}``; None if empty."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = buckets[upper]
        if count >= rank:
            if math.isinf(upper):
                return lower  # the largest finite bound, as PromQL answers
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _quantiles_ms(buckets: dict[float, float]) -> dict[str, float | None]:
    return {f"{name}_ms": _ms(histogram_quantile(q, buckets)) for name, q in QUANTILES}


class _Tally:
    """Running sums over the samples of one collection."""

    def __init__(self) -> None:
        self.count: dict[tuple[str, str], float] = defaultdict(float)  # (route, status)
        self.seconds: dict[str, float] = defaultdict(float)  # route
        self.buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        self.phase_count: dict[str, float] = defaultdict(float)
        self.phase_seconds: dict[str, float] = defaultdict(float)
        self.scalars: dict[str, float] = defaultdict(float)

    def add(self, family: Metric) -> None:
        for name, labels, value, *_ in family.samples:
            if family.name == DURATION:
                self._add_duration(name, labels, value)
            elif family.name == PHASE and name.endswith(("_count", "_sum")):
                target = self.phase_count if name.endswith("_count") else self.phase_seconds
                target[labels["phase"]] += value
            elif family.name in {"http_server_active_requests", "hookwatch_exceptions",
                                 "hookwatch_ready", "hookwatch_warmup_duration_seconds"}:
                self.scalars[family.name] += value

    def _add_duration(self, name: str, labels: dict[str, str], value: float) -> None:
        route = labels.get("http_route", "")
        if name.endswith("_count"):
            self.count[(route, labels["http_response_status_code"])] += value
        elif name.endswith("_sum"):
            self.seconds[route] += value
        elif name.endswith("_bucket"):
            self.buckets[route][float(labels["le"])] += value


def _routes(tally: _Tally) -> list[dict[str, Any]]:
    by_route: dict[str, dict[str, int]] = defaultdict(dict)
    for (route, status), value in tally.count.items():
        by_route[route][status] = int(value)
    rows = []
    for route, statuses in by_route.items():
        total = sum(statuses.values())
        errors = sum(n for status, n in statuses.items() if status.startswith("5"))
        rows.append({
            "route": route, "requests": total, "by_status": dict(sorted(statuses.items())),
            "errors_5xx": errors,
            "mean_ms": _ms(tally.seconds[route] / total) if total else None,
            **_quantiles_ms(tally.buckets[route]),
        })
    return sorted(rows, key=lambda row: (-row["requests"], row["route"]))


def _overall(tally: _Tally) -> dict[str, float | None]:
    merged: dict[float, float] = defaultdict(float)
    for buckets in tally.buckets.values():
        for bound, value in buckets.items():
            merged[bound] += value
    return _quantiles_ms(merged)


def _phases(tally: _Tally) -> list[dict[str, Any]]:
    return [{
        "phase": phase,
        "count": int(tally.phase_count[phase]),
        "total_s": round(tally.phase_seconds[phase], 6),
        "mean_ms": _ms(tally.phase_seconds[phase] / tally.phase_count[phase])
        if tally.phase_count[phase] else None,
    } for phase in PHASES]


def _recent(ring: Iterable[RecentRequest]) -> list[dict[str, Any]]:
    return [{
        "time": when, "request_id": request_id, "method": method, "route": route,
        "status": status, "duration_ms": _ms(seconds),
    } for when, request_id, method, route, status, seconds in reversed(list(ring))]


def snapshot(families: Iterable[Metric], ring: Iterable[RecentRequest], now: float,
             **facts: Any) -> dict[str, Any]:
    """The dashboard's JSON: totals, per-route table, phases, warm-up and recent requests."""
    tally = _Tally()
    for family in families:
        tally.add(family)
    by_status: dict[str, int] = defaultdict(int)
    for (_, status), value in tally.count.items():
        by_status[status] += int(value)
    total = sum(by_status.values())
    errors = sum(n for status, n in by_status.items() if status.startswith("5"))
    by_class: dict[str, int] = {name: 0 for name in ("2xx", "3xx", "4xx", "5xx")}
    for status, n in by_status.items():
        by_class[f"{status[0]}xx"] = by_class.get(f"{status[0]}xx", 0) + n
    warmup_seconds = tally.scalars["hookwatch_warmup_duration_seconds"]
    return {
        **facts,
        "generated": now,
        "requests": total,
        "by_status": dict(sorted(by_status.items())),
        "by_class": by_class,
        "errors_5xx": errors,
        "error_ratio": errors / total if total else 0.0,
        "exceptions": int(tally.scalars["hookwatch_exceptions"]),
        "in_flight": int(tally.scalars["http_server_active_requests"]),
        "latency": _overall(tally),
        "routes": _routes(tally),
        "phases": _phases(tally),
        "warmup": {"ready": tally.scalars["hookwatch_ready"] >= 1,
                   "duration_ms": _ms(warmup_seconds) if warmup_seconds else None},
        "recent": _recent(ring),
    }
