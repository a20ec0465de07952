"""``python -m benchmarks``: the side-by-side benchmark behind ``make bench``.

Four variants serving the same views (``benchmarks.apps``): bare Flask, hookwatch,
prometheus_flask_exporter, and the exporter plus a structlog JSON access line
(``exporter+structlog``, the do-it-yourself combination). In-process WSGI calls, interleaved
in short slices and paired by round (``benchmarks.inprocess``); the same under gunicorn and
wrk over loopback (``benchmarks.loopback``); the production path, gunicorn's sync and
gthread workers in multiprocess mode (``benchmarks.production``); the ``/metrics`` scrape,
8 workers' files included (``benchmarks.scrape``); and a profile of where each variant's time goes, by library
(``benchmarks.profile``). Prints the tables and hookwatch's cost figures against their
targets, writes ``benchmarks/results.json``, the plot ``docs/performance.png`` and the
generated section of ``docs/performance.md``. Exits 1 if any benchmark request went
uncounted or unlogged.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from prometheus_client import CollectorRegistry

from . import apps, inprocess

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
PNG = ROOT / "docs" / "performance.png"
RESULTS = ROOT / "benchmarks" / "results.json"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
# hookwatch's targets (issue 23): its time over bare's, its added time over the
# do-it-yourself combination's; both at most.
TARGET_RATIO, TARGET_ADDED_RATIO = 1.40, 0.80


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"{platform.system()}")


def run_inprocess(names: Sequence[str], log_dir: str, rounds: int = inprocess.ROUNDS,
                  slices: int = inprocess.SLICES, calls: int = inprocess.CALLS,
                  warmup_calls: int = inprocess.WARMUP_CALLS, clock: str = "cpu"
                  ) -> tuple[dict[str, Any], list[str]]:
    """The in-process table for ``names``, and the problems of the count check: every
    request counted in each variant's registry, and logged by the variants that log."""
    registries = {name: CollectorRegistry() for name in names}
    logs = {name: os.path.join(log_dir, f"{apps.FACTORIES[name]}.log") for name in names}
    variants = {name: apps.build(name, registries[name], logs[name]) for name in names}
    try:
        cells, sent = inprocess.run(variants, rounds, slices, calls, warmup_calls, clock)
    finally:
        apps.close_logs(*variants.values())
    problems = [problem for name in names
                for problem in inprocess.miscounted(name, registries[name], sent)]
    for name in names:
        if name in apps.LOGGED:
            problems += inprocess.unlogged(name, inprocess.count_request_lines(logs[name]), sent)
    table = inprocess.summarise(cells, sent, apps.DIY if apps.DIY in names else None)
    for (name, label), cell in cells.items():
        table[label][name]["rounds_us"] = [seconds * 1e6 for seconds in cell.rounds]
    return table, problems


def markdown_table(columns: Sequence[str], table: dict[str, dict[str, Any]],
                   cells: Callable[[str, str, dict[str, Any]], Sequence[str]]) -> str:
    """One row per (group, name, cell) of a two-level result table; the first two columns
    are text, left-aligned, the others numbers, right-aligned."""
    lines = ["| " + " | ".join(columns) + " |", "|---|---|" + "---:|" * (len(columns) - 2)]
    for group, row in table.items():
        for name, cell in row.items():
            lines.append("| " + " | ".join(cells(group, name, cell)) + " |")
    return "\n".join(lines)


def inprocess_markdown(table: dict[str, Any]) -> str:
    return markdown_table(
        ["route", "variant", "µs/request median", "rounds min–max", "ratio to bare",
         "ratio min–max", "added µs", f"added time ÷ {apps.DIY}'s"], table,
        lambda route, name, cell: [
            f"`{route}`", name, f"{cell['median_us']:.1f}",
            f"{cell['min_us']:.1f}–{cell['max_us']:.1f}", f"{cell['ratio']:.2f}",
            f"{cell['ratio_min']:.2f}–{cell['ratio_max']:.2f}", f"{cell['added_us']:+.1f}",
            f"{cell['added_ratio']:.2f}" if "added_ratio" in cell else ""])


def loopback_markdown(table: dict[str, Any]) -> str:
    return markdown_table(
        ["route", "variant", "req/s", "ratio to bare", "p50 ms", "p99 ms", "requests"], table,
        lambda route, name, cell: [
            f"`{route}`", name, f"{cell['rps']:.0f}", f"{cell['ratio']:.2f}",
            f"{cell['p50_ms']:.2f}", f"{cell['p99_ms']:.2f}", str(cell["requests"])])


def production_markdown(table: dict[str, Any]) -> str:
    rows = {f"{kind} `{route}`": row for kind, routes in table.items()
            for route, row in routes.items()}
    return markdown_table(
        ["workers, route", "variant", "req/s", "ratio to bare", "p50 ms", "p99 ms", "requests"],
        rows, lambda group, name, cell: [
            group, name, f"{cell['rps']:.0f}", f"{cell['ratio']:.2f}",
            f"{cell['p50_ms']:.2f}", f"{cell['p99_ms']:.2f}", str(cell["requests"])])


def scrape_markdown(table: dict[str, Any]) -> str:
    return markdown_table(
        ["set-up", "format", "ms per scrape (median)", "min–max", "size KiB", "lines"], table,
        lambda setup, name, cell: [
            setup, name, f"{cell['ms']:.1f}", f"{cell['min_ms']:.1f}–{cell['max_ms']:.1f}",
            f"{cell['bytes'] / 1024:.0f}", str(cell["lines"])])


def cost_figures(table: dict[str, Any]) -> list[str]:
    """hookwatch's two cost figures per route, against their targets, one line each."""
    lines = []
    for route, row in table.items():
        cell = row.get("hookwatch")
        if cell is None or "bare" not in row:
            continue
        line = (f"`{route}`: hookwatch {cell['ratio']:.2f}× bare "
                f"(target ≤ {TARGET_RATIO:.2f}×: {_verdict(cell['ratio'], TARGET_RATIO)})")
        if "added_ratio" in cell:
            line += (f"; its added time {cell['added_ratio']:.2f}× {apps.DIY}'s "
                     f"(target ≤ {TARGET_ADDED_RATIO:.2f}×: "
                     f"{_verdict(cell['added_ratio'], TARGET_ADDED_RATIO)})")
        lines.append(line)
    return lines


def _verdict(value: float, target: float) -> str:
    return "met" if value <= target else "MISSED"


def update_doc(section: str, doc: Path = DOC) -> bool:
    """Replace the generated section of the doc between its markers; False if it has none."""
    if not doc.exists():
        return False
    text = doc.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{START}\n{section}\n{END}{tail}", encoding="utf-8")
    return True


def show(sections: list[str], title: str, heading: str, table: str) -> None:
    """Print ``table`` under its title and heading, and add it to the doc's ``sections``."""
    print(f"{title} ({heading}):")
    print(table, "\n")
    sections += ["", f"**{title}** ({heading})", "", table]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=inprocess.ROUNDS,
                        help="in-process rounds (the ratios are medians over them)")
    parser.add_argument("--slices", type=int, default=inprocess.SLICES,
                        help="interleaved passes per round")
    parser.add_argument("--calls", type=int, default=inprocess.CALLS,
                        help="requests per slice")
    parser.add_argument("--clock", choices=list(inprocess.CLOCKS), default="cpu",
                        help="time slices by the thread's CPU time (default) or elapsed time")
    parser.add_argument("--loopback-seconds", type=int, default=1)
    parser.add_argument("--loopback-rounds", type=int, default=9)
    parser.add_argument("--profile-calls", type=int, default=9000)
    parser.add_argument("--production-seconds", type=float, default=2,
                        help="seconds of each wrk burst on the production path")
    parser.add_argument("--production-rounds", type=int, default=8)
    parser.add_argument("--scrape-repeats", type=int, default=30,
                        help="renders timed with 8 workers' files, per format")
    parser.add_argument("--no-loopback", action="store_true")
    parser.add_argument("--no-production", action="store_true",
                        help="skip gunicorn's sync and gthread workers in multiprocess mode")
    parser.add_argument("--no-scrape", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only: no JSON, PNG, doc")
    args = parser.parse_args(argv)

    names = list(apps.VARIANTS)
    if importlib.util.find_spec("prometheus_flask_exporter") is None:
        names = ["bare", "hookwatch"]
        print("prometheus_flask_exporter not installed: comparing bare and hookwatch only")
    results: dict[str, Any] = {"machine": machine()}
    print(f"machine: {results['machine']}\n")

    with tempfile.TemporaryDirectory(prefix="hookwatch-bench-") as tmp:
        table, problems = run_inprocess(names, tmp, args.rounds, args.slices, args.calls,
                                        clock=args.clock)
    results["inprocess"] = table
    clock = "the thread's CPU time" if args.clock == "cpu" else "elapsed time"
    method = (f"{args.rounds} rounds × {args.slices} interleaved passes × {args.calls} calls "
              f"per variant and route, timed by {clock}; medians over rounds, ratios paired "
              "by round")
    results["clock"] = args.clock
    figures = cost_figures(table)
    results["cost_figures"] = figures
    print(f"In-process WSGI ({method}):")
    print(inprocess_markdown(table), "\n")
    print(*figures, sep="\n", end="\n\n")
    sections = [f"Machine: {results['machine']}.", "",
                f"**In-process WSGI** ({method})", "", inprocess_markdown(table), "",
                *(f"- {line}" for line in figures)]

    if not args.no_loopback:
        from . import loopback

        runs, loop_problems = loopback.run(names, args.loopback_seconds, args.loopback_rounds)
        problems += loop_problems
        loop_table = loopback.summarise(runs, names)
        results["loopback"] = loop_table
        heading = (f"gunicorn, one gthread worker; wrk -t1 -c4; {args.loopback_rounds} rounds "
                   f"× {args.loopback_seconds:g} s per variant and route, interleaved; medians; "
                   "ratio to bare paired by round")
        show(sections, "Loopback", heading, loopback_markdown(loop_table))

    if not args.no_production and "exporter" in names:
        from . import production

        results["production"], production_problems = production.run(
            seconds=args.production_seconds, rounds=args.production_rounds)
        problems += production_problems
        heading = (f"gunicorn in multiprocess mode, 2 workers: sync (`-k sync --threads 1`) and "
                   f"gthread (`-k gthread --threads 4`); wrk -t2 -c4; "
                   f"{args.production_rounds} rounds × {args.production_seconds:g} s per "
                   "variant and route, the order rotating; medians; ratio to bare paired by "
                   "round")
        show(sections, "Production path", heading, production_markdown(results["production"]))

    if not args.no_scrape:
        from . import scrape

        results["scrape"], scrape_problems = scrape.run()
        problems += scrape_problems
        heading = ("`GET /metrics`, whole WSGI request, the thread's CPU time; 20 routes × "
                   "3 methods × 5 statuses served first")
        show(sections, "Scrape", heading, scrape_markdown(results["scrape"]))
        results["scrape_workers"] = scrape.run_slots(args.scrape_repeats)
        heading = (f"`Metrics.render` alone, the thread's CPU time, median of "
                   f"{args.scrape_repeats}; each worker's files hold the default traffic "
                   "mix's routes × statuses at 4 durations each, plus the probes and the "
                   "scrape")
        show(sections, "Scrape with 8 workers' files", heading,
             scrape_markdown(results["scrape_workers"]))

    if not args.no_profile and "hookwatch" in names:
        from . import profile

        breakdown = profile.breakdown(args.profile_calls,
                                      names=[n for n in profile.PROFILED if n in names])
        results["profile"] = breakdown
        heading = (f"{breakdown['profiler']}, `GET {breakdown['path']}`, "
                   f"{breakdown['requests']} requests per variant in {breakdown['slices']} "
                   "alternating slices; µs per request under the profiler by the module the "
                   "time was spent in, medians over slices")
        show(sections, "Where the time goes", heading, profile.markdown(breakdown))
        for name, rows in breakdown["functions"].items():
            print(f"The functions {name} spends the most time in more than bare "
                  "(cProfile, per request):")
            print(profile.functions_markdown(rows), "\n")

    results["problems"] = problems
    if not args.no_write:
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")
        if importlib.util.find_spec("matplotlib") is not None:
            from .plot import plot

            plot(table, PNG, results["machine"], TARGET_RATIO)
            sections += ["", "![µs per request and per-round ratios to bare](performance.png)"]
        update_doc("\n".join(sections))
    if problems:
        print("UNCOUNTED OR FAILED REQUESTS:", *problems, sep="\n  ")
        return 1
    print("every benchmark request was counted (metrics) and logged (log lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
