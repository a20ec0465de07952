"""The plot in docs/performance.md: microseconds per request for each variant and route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot"]

COLOURS = {"bare": "#9e9e9e", "hookwatch": "#1f77b4", "exporter": "#ff7f0e"}


def plot(inprocess: dict[str, Any], path: Path, title: str) -> None:
    """Bars at the median, whiskers from min to max; one group per route."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    routes = list(inprocess)
    names = list(inprocess[routes[0]])
    width = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(7.5, 4.2), dpi=110)
    for index, name in enumerate(names):
        cells = [inprocess[route][name] for route in routes]
        xs = [r + (index - (len(names) - 1) / 2) * width for r in range(len(routes))]
        medians = [c["median_us"] for c in cells]
        errors = [[c["median_us"] - c["min_us"] for c in cells],
                  [c["max_us"] - c["median_us"] for c in cells]]
        bars = axes.bar(xs, medians, width, yerr=errors, capsize=3, label=name,
                        color=COLOURS.get(name))
        for bar, cell in zip(bars, cells):
            # Inside the bar, below its top: the min–max whisker runs through the top.
            axes.annotate(f"{cell['median_us']:.0f} µs\n×{cell['ratio']:.2f}",
                          (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          xytext=(0, -6), textcoords="offset points", ha="center", va="top",
                          fontsize=8, color="white")
    axes.set_xticks(range(len(routes)), [f"GET {route}" for route in routes])
    axes.set_ylabel("µs per request (median, min–max)")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower right")
    axes.margins(y=0.2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
