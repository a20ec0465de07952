"""What a run did: requests by route and status, client-side latency percentiles, errors.

:class:`Summary` is fed from the worker threads and read by the progress bar; ``to_dict``
is the ``--json`` output and ``table`` the rich table printed at the end.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from typing import Any

from rich.table import Table

from .runner import Result

__all__ = ["Summary", "percentile", "status_class"]

CLASS_STYLES = {"2xx": "green", "3xx": "cyan", "4xx": "yellow", "5xx": "red", "error": "magenta"}


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values; ``None`` when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def status_class(status: int | None) -> str:
    """``"2xx"`` … ``"5xx"``, or ``"error"`` when no response came back."""
    return "error" if status is None else f"{status // 100}xx"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


class Summary:
    """Thread-safe tally of :class:`Result` objects."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latencies: dict[tuple[str, int | None], list[float]] = defaultdict(list)
        self.classes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.total = 0

    def add(self, result: Result) -> None:
        with self._lock:
            self.total += 1
            self.classes[status_class(result.status)] += 1
            self._latencies[(result.planned.route, result.status)].append(result.seconds)
            if result.error is not None:
                self.errors[result.error] += 1

    def status_text(self) -> str:
        """``"2xx 120  4xx 9  5xx 4"`` with rich colour markup, for the progress bar."""
        with self._lock:
            parts = [f"[{CLASS_STYLES[name]}]{name} {self.classes[name]}[/]"
                     for name in CLASS_STYLES if self.classes[name]]
        return "  ".join(parts) or "waiting for responses"

    def rows(self) -> list[dict[str, Any]]:
        """One row per (route, status), sorted by route then status; latencies in ms."""
        with self._lock:
            groups = sorted(self._latencies.items(),
                            key=lambda item: (item[0][0], item[0][1] or 0))
            rows = []
            for (route, status), values in groups:
                values = sorted(values)
                rows.append({
                    "route": route, "status": status, "count": len(values),
                    "p50_ms": _ms(percentile(values, 0.50)),
                    "p95_ms": _ms(percentile(values, 0.95)),
                    "p99_ms": _ms(percentile(values, 0.99)),
                })
            return rows

    def latency_ms(self) -> dict[str, float | None]:
        with self._lock:
            values = sorted(v for group in self._latencies.values() for v in group)
        return {name: _ms(percentile(values, fraction))
                for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}

    def to_dict(self, **run: Any) -> dict[str, Any]:
        """The whole summary as plain data; ``run`` adds facts about the run (url, seed…)."""
        elapsed = run.get("elapsed_s") or 0.0
        return {
            **run,
            "requests": self.total,
            "rate_rps": round(self.total / elapsed, 2) if elapsed else None,
            "by_class": {name: self.classes[name] for name in CLASS_STYLES if self.classes[name]},
            "errors": dict(self.errors),
            "latency_ms": self.latency_ms(),
            "routes": self.rows(),
        }

    def table(self, title: str) -> Table:
        """A rich table: one row per route and status, then the overall line."""
        table = Table(title=title, title_justify="left")
        table.add_column("route")
        table.add_column("status", justify="right")
        table.add_column("requests", justify="right")
        for name in ("p50", "p95", "p99"):
            table.add_column(f"{name} ms", justify="right")
        for row in self.rows():
            style = CLASS_STYLES[status_class(row["status"])]
            table.add_row(
                row["route"] or "(no route)",
                f"[{style}]{row['status'] or 'error'}[/]",
                str(row["count"]),
                *(_fmt(row[f"{name}_ms"]) for name in ("p50", "p95", "p99")),
            )
        overall = self.latency_ms()
        table.add_section()
        table.add_row("[bold]all[/]", "", f"[bold]{self.total}[/]",
                      *(_fmt(overall[name]) for name in ("p50", "p95", "p99")))
        return table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
