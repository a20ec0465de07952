"""The plot in docs/performance.md: µs per request for each variant and route (left), and
every round's ratio to bare with its median (right)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot"]

COLOURS = {"bare": "#9e9e9e", "hookwatch": "#1f77b4", "exporter": "#ff7f0e",
           "exporter+structlog": "#d62728"}


def plot(inprocess: dict[str, Any], path: Path, machine: str, target: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    routes = list(inprocess)
    names = list(inprocess[routes[0]])
    width = 0.8 / len(names)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110,
                                         gridspec_kw={"width_ratios": [3, 2]})
    for index, name in enumerate(names):
        cells = [inprocess[route][name] for route in routes]
        xs = [r + (index - (len(names) - 1) / 2) * width for r in range(len(routes))]
        medians = [c["median_us"] for c in cells]
        errors = [[c["median_us"] - c["min_us"] for c in cells],
                  [c["max_us"] - c["median_us"] for c in cells]]
        bars = left.bar(xs, medians, width, yerr=errors, capsize=3, label=name,
                        color=COLOURS.get(name))
        for bar, cell in zip(bars, cells):
            left.annotate(f"{cell['median_us']:.0f}\n×{cell['ratio']:.2f}",
                          (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          xytext=(0, -6), textcoords="offset points", ha="center", va="top",
                          fontsize=7.5, color="white")
        if name == "bare":
            continue
        for r, cell in enumerate(cells):
            base = inprocess[routes[r]]["bare"]["rounds_us"]
            ratios = [us / b for us, b in zip(cell.get("rounds_us", []), base)]
            x = r + (index - (len(names) - 1) / 2) * width
            right.scatter([x] * len(ratios), ratios, s=12, alpha=0.6, color=COLOURS.get(name))
            right.hlines(cell["ratio"], x - width / 2, x + width / 2, color=COLOURS.get(name))
    left.set_xticks(range(len(routes)), [f"GET {route}" for route in routes])
    left.set_ylabel("µs per request (median over rounds, min–max)")
    left.set_title("In-process WSGI", fontsize=10)
    left.legend(loc="upper center", ncols=len(names), fontsize=8)
    left.set_ylim(0, max(inprocess[r][n]["max_us"] for r in routes for n in names) * 1.25)
    right.axhline(target, color="#1f77b4", linestyle="--", linewidth=1)
    right.annotate(f"hookwatch's target ≤ {target:.2f}×", (-0.45, target), xytext=(0, 3),
                   textcoords="offset points", fontsize=8, color="#1f77b4")
    right.set_xticks(range(len(routes)), [f"GET {route}" for route in routes])
    right.set_xlim(-0.5, len(routes) - 0.5)
    right.set_ylabel("ratio to bare, each round (line: median)")
    right.set_title("Per-round ratios (paired)", fontsize=10)
    figure.suptitle(machine, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
