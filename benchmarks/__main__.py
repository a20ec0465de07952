"""``python -m benchmarks``: the side-by-side benchmark behind ``make bench``.

In-process WSGI calls for bare Flask, hookwatch (production, JSON logs to a file) and
prometheus_flask_exporter (defaults); hookwatch again with its log lines to each kind of
destination (``benchmarks.sinks``) and with one part at a time switched off
(``benchmarks.ablate``), against a copy with its steps flattened (``benchmarks.flat``),
and the same parts timed alone in a loop (``benchmarks.parts``); the same over loopback
with gunicorn and wrk; then the ``/metrics`` scrape benchmark. Prints the tables, writes
``benchmarks/results.json``, the plot ``docs/performance.png`` and the table in
``docs/performance.md``. Exits 1 if any benchmark request went uncounted.
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
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def run_inprocess(names: list[str], calls: int, repeats: int, log_path: str
                  ) -> tuple[dict[str, Any], list[str]]:
    registries = {name: CollectorRegistry() for name in names}
    builders = {
        "bare": lambda: apps.bare(),
        "hookwatch": lambda: apps.hookwatch(log_path, registries["hookwatch"]),
        "exporter": lambda: apps.exporter(registries["exporter"]),
    }
    variants = {name: builders[name]() for name in names}
    try:
        cells, sent = inprocess.run(variants, calls, repeats)
    finally:
        if "hookwatch" in variants:
            apps.close_logs(*variants.values())
    problems = [problem for name in names
                for problem in inprocess.miscounted(name, name, registries[name], sent)]
    if "hookwatch" in names:
        problems += inprocess.unlogged("hookwatch", inprocess.count_request_lines(log_path), sent)
    return inprocess.summarise(cells, sent), problems


def markdown_table(columns: Sequence[str], table: dict[str, dict[str, Any]],
                   cells: Callable[[str, str, dict[str, Any]], Sequence[str]]) -> str:
    """One row per (group, name, cell) of a two-level result table.

    The first two columns (group and variant) are text, left-aligned; the others are numbers,
    right-aligned.
    """
    lines = ["| " + " | ".join(columns) + " |", "|---|---|" + "---:|" * (len(columns) - 2)]
    for group, row in table.items():
        for name, cell in row.items():
            lines.append("| " + " | ".join(cells(group, name, cell)) + " |")
    return "\n".join(lines)


def inprocess_markdown(table: dict[str, Any]) -> str:
    return markdown_table(
        ["route", "variant", "µs/request median", "min–max", "ratio to bare", "added µs"], table,
        lambda route, name, cell: [
            f"`{route}`", name, f"{cell['median_us']:.1f}",
            f"{cell['min_us']:.1f}–{cell['max_us']:.1f}", f"{cell['ratio']:.2f}",
            f"{cell['added_us']:+.1f}"])


def loopback_markdown(table: dict[str, Any]) -> str:
    return markdown_table(
        ["route", "variant", "req/s", "ratio to bare", "p50 ms", "p99 ms", "requests"], table,
        lambda route, name, cell: [
            f"`{route}`", name, f"{cell['rps']:.0f}", f"{cell['ratio']:.2f}",
            f"{cell['p50_ms']:.2f}", f"{cell['p99_ms']:.2f}", str(cell["requests"])])


def scrape_markdown(table: dict[str, Any]) -> str:
    return markdown_table(
        ["set-up", "format", "ms per scrape (median)", "min–max", "size KiB", "lines"], table,
        lambda setup, name, cell: [
            setup, name, f"{cell['ms']:.1f}", f"{cell['min_ms']:.1f}–{cell['max_ms']:.1f}",
            f"{cell['bytes'] / 1024:.0f}", str(cell["lines"])])


def report(results: dict[str, Any], sections: list[str], key: str,
           run: tuple[dict[str, Any], list[str]], printed: str, heading: str) -> list[str]:
    """Keep an in-process run's table as ``results[key]``, print it under ``printed`` and
    add it to the doc's ``sections`` under ``heading``; return the run's problems."""
    table, problems = run
    results[key] = table
    print(printed)
    print(inprocess_markdown(table), "\n")
    sections += ["", heading, "", inprocess_markdown(table)]
    return problems


def update_doc(section: str) -> None:
    """Replace the generated section of docs/performance.md, if the page has the markers."""
    if not DOC.exists():
        return
    text = DOC.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{section}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=inprocess.CALLS,
                        help="requests per timed batch")
    parser.add_argument("--repeats", type=int, default=inprocess.REPEATS,
                        help="batches per variant and route")
    parser.add_argument("--loopback-seconds", type=int, default=2)
    parser.add_argument("--loopback-rounds", type=int, default=6)
    parser.add_argument("--no-loopback", action="store_true")
    parser.add_argument("--no-scrape", action="store_true")
    parser.add_argument("--no-sinks", action="store_true", help="skip the log destination run")
    parser.add_argument("--no-ablate", action="store_true",
                        help="skip the cost breakdown (in requests and in a loop)")
    parser.add_argument("--no-write", action="store_true", help="print only: no JSON, PNG, doc")
    args = parser.parse_args(argv)

    names = ["bare", "hookwatch"]
    if importlib.util.find_spec("prometheus_flask_exporter") is not None:
        names.append("exporter")
    else:
        print("prometheus_flask_exporter not installed: comparing bare and hookwatch only")
    results: dict[str, Any] = {"machine": machine()}
    print(f"machine: {results['machine']}\n")

    with tempfile.TemporaryDirectory(prefix="hookwatch-bench-") as tmp:
        table, problems = run_inprocess(names, args.calls, args.repeats,
                                        os.path.join(tmp, "requests.log"))
    results["inprocess"] = table
    print(f"In-process WSGI, {args.repeats} repeats x {args.calls} calls, alternating order:")
    print(inprocess_markdown(table), "\n")
    sections = [f"Machine: {results['machine']}.", "", "**In-process WSGI** "
                f"({args.repeats} repeats × {args.calls} calls per variant and route)", "",
                inprocess_markdown(table)]

    if not args.no_sinks and "exporter" in names:
        from . import sinks

        problems += report(results, sections, "sinks", sinks.run(args.calls, args.repeats),
                           "In-process, hookwatch's request line to each destination:",
                           "**Log destination** (in-process as above; hookwatch's JSON lines "
                           "to each destination in turn, and built but not written)")

    if not args.no_ablate and "hookwatch" in names:
        from . import ablate

        results["ablate"] = ablate.run(args.calls, args.repeats)
        print("In-process, what each part of hookwatch's added time costs:")
        print(ablate.markdown(results["ablate"]), "\n")
        sections += ["", "**Where hookwatch's added time goes** (in-process as above; full "
                     "hookwatch minus a copy with that part switched off)", "",
                     ablate.markdown(results["ablate"])]

        from . import flat

        problems += report(results, sections, "flat", flat.run(args.calls, args.repeats),
                           "In-process, hookwatch against a copy with its steps flattened:",
                           "**hookwatch's code shape** (in-process as above; a copy whose three "
                           "steps make the same outputs in one flat function each, "
                           "`benchmarks/flat.py`)")

        from . import parts

        results["parts"] = parts.run()
        print("The same parts, and the exporter's hooks, timed alone in a loop:")
        print(parts.markdown(results["parts"]), "\n")
        sections += ["", "**The same work timed alone in a loop** (µs per call, median of "
                     f"{parts.REPEATS} loops of {parts.CALLS} calls; "
                     "`python -m benchmarks.parts`)", "", parts.markdown(results["parts"])]

    if not args.no_loopback:
        from . import loopback

        runs, loop_problems = loopback.run(names, args.loopback_seconds, args.loopback_rounds)
        problems += loop_problems
        loop_table = loopback.summarise(runs, names)
        results["loopback"] = loop_table
        print(f"Loopback: gunicorn (1 gthread worker) + wrk -t1 -c4, {args.loopback_rounds} "
              f"rounds x {args.loopback_seconds:g} s, medians, ratio paired by round:")
        print(loopback_markdown(loop_table), "\n")
        sections += ["", f"**Loopback** (gunicorn, one gthread worker; wrk -t1 -c4; "
                     f"{args.loopback_rounds} rounds × {args.loopback_seconds:g} s; medians; "
                     "ratio to bare paired by round)", "", loopback_markdown(loop_table)]

    if not args.no_scrape:
        from . import scrape

        results["scrape"] = scrape.run(repeats=max(5, min(args.repeats, 15)))
        print("Scrape: /metrics render, 20 routes x 3 methods x 5 statuses:")
        print(scrape_markdown(results["scrape"]), "\n")
        sections += ["", "**Scrape** (`/metrics` render; 20 routes × 3 methods × 5 statuses)",
                     "", scrape_markdown(results["scrape"])]

    results["problems"] = problems
    if not args.no_write:
        (ROOT / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        if importlib.util.find_spec("matplotlib") is not None:
            from .plot import plot

            plot(table, PNG, f"In-process WSGI, µs per request — {results['machine']}")
            sections += ["", "![µs per request for each variant](performance.png)"]
        update_doc("\n".join(sections))
    if problems:
        print("UNCOUNTED OR FAILED REQUESTS:", *problems, sep="\n  ")
        return 1
    print("every benchmark request was counted (metrics and log lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
