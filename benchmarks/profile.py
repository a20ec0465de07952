r"""What a request's time is made of, by library: requests of each variant under a
profiler, the time grouped by the module it was spent in.

``python -m benchmarks.profile`` profiles ``GET /user/ada`` on bare, hookwatch and
exporter+structlog with cProfile: 9,000
requests per variant in 30 slices, the variants alternating from one slice to the next,
each slice with a profiler of its own. It prints, per group, each variant's µs per request
and each variant's difference from bare's slice of the same pass, as medians over slices
(a slice that other processes slowed moves only itself). Time in C functions
(``orjson.dumps``, ``json.dumps``' encoder, a file's ``write``) counts for the Python
module that called them.

A profiler slows what it measures, most where the calls are many and short: read the
groups' shares of a variant's added time, not the absolute µs, which ``python -m
benchmarks`` measures without a profiler. ``--variant hookwatch --top 30`` prints the
profiler's own report for one variant instead.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
from pathlib import Path
from collections import defaultdict
from typing import Any, Iterable, Iterator

from prometheus_client import CollectorRegistry

from . import apps
from .inprocess import call, make_environ

__all__ = ["GROUPS", "breakdown", "functions", "functions_markdown", "group_of", "main",
           "markdown"]

ROOT = Path(__file__).resolve().parent.parent

# (group, path fragments of the files whose time counts for it), first match wins.
GROUPS = (
    ("hookwatch", ("/app/hookwatch/",)),
    ("the app's views and templates", ("/app/main/", "/app/templates/", "<template>")),
    ("flask, werkzeug", ("/flask/", "/werkzeug/", "/blinker/", "/itsdangerous/")),
    ("jinja2, markupsafe", ("/jinja2/", "/markupsafe/")),
    ("structlog", ("/structlog/",)),
    ("prometheus_client", ("/prometheus_client/",)),
    ("prometheus_flask_exporter", ("/prometheus_flask_exporter/",)),
    ("exporter+structlog's access-line hooks", ("/benchmarks/apps.py",)),
    ("the benchmark's loop", ("/benchmarks/",)),
)
OTHER = "standard library, other"
PROFILED = ("bare", "hookwatch", apps.DIY)


def group_of(path: str | None) -> str | None:
    """The group of a source file's time, or None for a frame with no file (C code)."""
    if not path or path.startswith("~") or path.startswith("<built-in"):
        return None
    for group, fragments in GROUPS:
        if any(fragment in path for fragment in fragments):
            return group
    return OTHER


def _cprofile_groups(stats: pstats.Stats) -> dict[str, float]:
    """Seconds by group; a C function's time is shared among its callers' groups in
    proportion to the time it spent called from each."""
    seconds: dict[str, float] = defaultdict(float)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]

    def owner(function: tuple[str, int, str], depth: int = 0) -> dict[str, float]:
        filename = function[0]
        group = group_of(filename)
        if group is not None or depth > 20:
            return {group or OTHER: 1.0}
        callers = table.get(function, (0, 0, 0, 0, {}))[4]
        total = sum(entry[2] for entry in callers.values())
        if not total:
            return {OTHER: 1.0}
        shares: dict[str, float] = defaultdict(float)
        for caller, entry in callers.items():
            for name, share in owner(caller, depth + 1).items():
                shares[name] += share * entry[2] / total
        return shares

    for function, (_, _, tottime, _, _) in table.items():
        for group, share in owner(function).items():
            seconds[group] += tottime * share
    return dict(seconds)


@contextlib.contextmanager
def _variants(names: list[str]) -> Iterator[dict[str, Any]]:
    """The variants, built and warmed up (300 requests each), their log files closed after."""
    with tempfile.TemporaryDirectory(prefix="hookwatch-profile-") as tmp:
        variants = {name: apps.build(name, CollectorRegistry(),
                                     os.path.join(tmp, f"{apps.FACTORIES[name]}.log"))
                    for name in names}
        try:
            yield variants
        finally:
            apps.close_logs(*variants.values())


def _calls(app: Any, environ: dict[str, Any], count: int) -> None:
    for _ in range(count):
        call(app, environ)


def _profile(names: Iterable[str], path: str, calls: int, slices: int
             ) -> tuple[dict[str, list[dict[str, float]]], dict[str, pstats.Stats]]:
    """For each variant, one dict per slice: seconds per request by group. Each slice has
    a profiler of its own, and the variants alternate from one slice to the next. Also
    each variant's statistics over all of its slices."""
    names = list(names)
    environ = make_environ(path)
    per_slice = max(1, calls // slices)
    found: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    stats: dict[str, pstats.Stats] = {}
    with _variants(names) as variants:
        for app in variants.values():
            _calls(app, environ, 300)
        for index in range(slices):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                profiler = cProfile.Profile()
                profiler.enable()
                _calls(variants[name], environ, per_slice)
                profiler.disable()
                slice_stats = pstats.Stats(profiler)
                found[name].append({group: seconds / per_slice for group, seconds
                                    in _cprofile_groups(slice_stats).items()})
                if name in stats:
                    stats[name].add(profiler)
                else:
                    stats[name] = slice_stats
    return found, stats


def _where(function: tuple[str, int, str]) -> str:
    """``module/file.py:line(name)``, the path shortened to what follows site-packages, the
    repository or the standard library's folder; a C function by its name."""
    filename, line, name = function
    if filename == "~":
        return name
    for marker in ("site-packages/", f"{ROOT}/", f"python{sys.version_info[0]}."
                   f"{sys.version_info[1]}/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"


def functions(stats: dict[str, pstats.Stats], name: str, requests: int, top: int = 12,
              base: str = "bare") -> list[dict[str, Any]]:
    """The ``top`` functions in which variant ``name`` spends the most time more than
    ``base`` (their own time, not their callees'), per request: µs and calls."""
    mine = stats[name].stats  # type: ignore[attr-defined]
    theirs = stats[base].stats  # type: ignore[attr-defined]
    rows = []
    for function in set(mine) | set(theirs):
        _, calls, tottime, _, _ = mine.get(function, (0, 0, 0.0, 0.0, {}))
        _, base_calls, base_tottime, _, _ = theirs.get(function, (0, 0, 0.0, 0.0, {}))
        rows.append({"function": _where(function),
                     "added_us": (tottime - base_tottime) / requests * 1e6,
                     "added_calls": (calls - base_calls) / requests})
    rows.sort(key=lambda row: row["added_us"], reverse=True)
    return rows[:top]


def functions_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| function (own time) | added µs | added calls |", "|---|---:|---:|"]
    lines += [f"| `{row['function']}` | {row['added_us']:+.1f} | {row['added_calls']:+.0f} |"
              for row in rows]
    return "\n".join(lines)


def breakdown(calls: int = 9000, slices: int = 30, path: str = "/user/ada",
              names: Iterable[str] = PROFILED) -> dict[str, Any]:
    """µs per request by group for each variant under the profiler (``groups``: the median
    over slices), and each variant's difference from bare (``added``: the median over
    slices of the difference from bare's slice of the same pass)."""
    found, stats = _profile(names, path, calls, slices)
    requests = max(1, calls // slices) * slices
    everywhere = {group for slices_ in found.values() for one in slices_ for group in one}

    def median_us(values: Iterable[float]) -> float:
        return statistics.median(values) * 1e6

    groups = {name: {group: median_us(one.get(group, 0.0) for one in slices_)
                     for group in everywhere}
              for name, slices_ in found.items()}
    added = {}
    if "bare" in found:
        added = {name: {group: median_us(one.get(group, 0.0) - base.get(group, 0.0)
                                         for one, base in zip(slices_, found["bare"]))
                        for group in everywhere}
                 for name, slices_ in found.items() if name != "bare"}
    top = {}
    if stats and "bare" in stats:
        top = {name: functions(stats, name, requests) for name in stats if name != "bare"}
    return {"profiler": "cProfile", "path": path,
            "requests": requests, "slices": slices, "groups": groups, "added": added,
            "functions": top}


def markdown(result: dict[str, Any]) -> str:
    """One row per group: µs per request for each variant, and each instrumented variant's
    difference from bare (medians over slices); the groups in which no variant spent
    0.5 µs are summed in one row, and the last row sums each column."""
    groups: dict[str, dict[str, float]] = result["groups"]
    added: dict[str, dict[str, float]] = result.get("added", {})
    names = list(groups)
    order = [group for group, _ in GROUPS] + [OTHER]
    present = [g for g in order if any(groups[n].get(g, 0) >= 0.5 for n in names)]
    minor = [g for g in order if g not in present and any(g in groups[n] for n in names)]
    columns = ["group", *(f"{name} µs" for name in names), *(f"{name} − bare" for name in added)]
    lines = ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]

    def row(label: str, pick: Iterable[str]) -> str:
        pick = list(pick)
        cells = [f"{sum(groups[n].get(g, 0.0) for g in pick):.1f}" for n in names]
        cells += [f"{sum(added[n].get(g, 0.0) for g in pick):+.1f}" for n in added]
        return "| " + " | ".join([label, *cells]) + " |"

    lines += [row(group, [group]) for group in present]
    if minor:
        lines.append(row("the rest (" + ", ".join(minor) + ")", minor))
    lines.append(row("**sum**", order))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=9000, help="requests per variant")
    parser.add_argument("--path", default="/user/ada")
    parser.add_argument("--variant", choices=apps.VARIANTS,
                        help="one variant, the profiler's own report")
    parser.add_argument("--top", type=int, default=35, help="rows of cProfile's report")
    args = parser.parse_args(argv)
    if args.variant:
        environ = make_environ(args.path)
        with _variants([args.variant]) as variants:
            app = variants[args.variant]
            _calls(app, environ, 300)
            profiler = cProfile.Profile()
            profiler.enable()
            _calls(app, environ, args.calls)
            profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
        return
    result = breakdown(args.calls, path=args.path)
    print(f"{result['profiler']}, GET {args.path}, {result['requests']} requests per variant "
          f"in {result['slices']} alternating slices; µs per request under the profiler, "
          "medians over slices:")
    print(markdown(result))
    for name, rows in result["functions"].items():
        print(f"\nThe functions {name} spends the most time in more than bare, per request:")
        print(functions_markdown(rows))


if __name__ == "__main__":
    main()
