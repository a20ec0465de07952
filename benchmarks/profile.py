r"""What a request's time is made of, by library: N requests of each variant under a
profiler, the time grouped by the module it was spent in.

``python -m benchmarks.profile`` profiles ``GET /user/ada`` (9,000 requests) on bare,
hookwatch and exporter+structlog with pyinstrument (a sampling profiler, where installed: ``make bench``
installs it) or cProfile (``--cprofile``), the variants in alternating slices, and prints
µs per request in each group, and each variant's difference from bare: where its added
time goes. Time in C functions (``orjson.dumps``, ``json.dumps``' encoder, a file's
``write``) counts for the Python module that called them.

A profiler slows what it measures, cProfile most where calls are many and short: read the
groups' shares and differences, not the absolute µs, which ``python -m benchmarks`` measures
without a profiler. ``--variant hookwatch --top 30`` prints the profiler's own report for one
variant instead.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
from collections import defaultdict
from typing import Any, Iterable

from prometheus_client import CollectorRegistry

from . import apps
from .inprocess import call, make_environ

__all__ = ["GROUPS", "breakdown", "group_of", "main", "markdown"]

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


def _pyinstrument_groups(session: Any) -> dict[str, float]:
    """Seconds by group: each frame's own time (its time less its children's) counts for
    its file's group, or its caller's when it has no file."""
    seconds: dict[str, float] = defaultdict(float)
    root = session.root_frame(trim_stem=False)
    stack = [(root, OTHER)] if root is not None else []
    while stack:
        frame, inherited = stack.pop()
        group = group_of(frame.file_path) or inherited
        seconds[group] += frame.time - sum(child.time for child in frame.children)
        stack.extend((child, group) for child in frame.children)
    return dict(seconds)


class _Profiler:
    """One variant's profiler, started and stopped around each of its slices."""

    def __init__(self, use_pyinstrument: bool) -> None:
        self.pyinstrument = use_pyinstrument
        if use_pyinstrument:
            from pyinstrument import Profiler

            self.profiler: Any = Profiler(interval=0.0001)
        else:
            self.profiler = cProfile.Profile()

    def start(self) -> None:
        if self.pyinstrument:
            self.profiler.start()
        else:
            self.profiler.enable()

    def stop(self) -> None:
        if self.pyinstrument:
            self.profiler.stop()
        else:
            self.profiler.disable()

    def groups(self) -> dict[str, float]:
        if self.pyinstrument:
            return _pyinstrument_groups(self.profiler.last_session)
        return _cprofile_groups(pstats.Stats(self.profiler))

    def print(self, top: int) -> None:
        if self.pyinstrument:
            print(self.profiler.output_text(unicode=True, color=False, show_all=False))
        else:
            pstats.Stats(self.profiler).sort_stats("tottime").print_stats(top)


def _have_pyinstrument() -> bool:
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        return False
    return True


def _profile(names: Iterable[str], path: str, calls: int, slices: int,
             use_pyinstrument: bool) -> dict[str, _Profiler]:
    names = list(names)
    environ = make_environ(path)
    with tempfile.TemporaryDirectory(prefix="hookwatch-profile-") as tmp:
        variants = {name: apps.build(name, CollectorRegistry(),
                                     os.path.join(tmp, f"{apps.FACTORIES[name]}.log"))
                    for name in names}
        profilers = {name: _Profiler(use_pyinstrument) for name in names}
        try:
            for app in variants.values():
                for _ in range(300):
                    call(app, environ)
            per_slice = max(1, calls // slices)
            for index in range(slices):
                shift = index % len(names)
                for name in names[shift:] + names[:shift]:
                    app, profiler = variants[name], profilers[name]
                    profiler.start()
                    for _ in range(per_slice):
                        call(app, environ)
                    profiler.stop()
        finally:
            apps.close_logs(*variants.values())
    return profilers


def breakdown(calls: int = 9000, slices: int = 30, path: str = "/user/ada",
              names: Iterable[str] = PROFILED, use_pyinstrument: bool | None = None
              ) -> dict[str, Any]:
    """µs per request by group for each variant, under the profiler; ``profiler`` names it."""
    if use_pyinstrument is None:
        use_pyinstrument = _have_pyinstrument()
    profilers = _profile(names, path, calls, slices, use_pyinstrument)
    made = max(1, calls // slices) * slices
    groups = {name: {group: seconds / made * 1e6
                     for group, seconds in profiler.groups().items()}
              for name, profiler in profilers.items()}
    return {"profiler": "pyinstrument" if use_pyinstrument else "cProfile", "path": path,
            "requests": made, "groups": groups}


def markdown(result: dict[str, Any]) -> str:
    """One row per group: µs per request for each variant, and each instrumented variant's
    difference from bare; the groups in which nobody spent 0.5 µs are summed in the last
    row but one, the totals last."""
    groups: dict[str, dict[str, float]] = result["groups"]
    names = list(groups)
    others = [name for name in names if name != "bare"]
    order = [group for group, _ in GROUPS] + [OTHER]
    present = [g for g in order if any(groups[n].get(g, 0) >= 0.5 for n in names)]
    minor = [g for g in order if g not in present and any(g in groups[n] for n in names)]
    columns = ["group", *(f"{name} µs" for name in names),
               *(f"{name} − bare" for name in others if "bare" in groups)]
    lines = ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]

    def row(label: str, pick: Iterable[str]) -> str:
        pick = list(pick)
        values = {n: sum(groups[n].get(g, 0.0) for g in pick) for n in names}
        cells = [f"{values[n]:.1f}" for n in names]
        if "bare" in groups:
            cells += [f"{values[n] - values['bare']:+.1f}" for n in others]
        return "| " + " | ".join([label, *cells]) + " |"

    lines += [row(group, [group]) for group in present]
    if minor:
        lines.append(row("the rest (" + ", ".join(minor) + ")", minor))
    lines.append(row("**total**", order))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=9000, help="requests per variant")
    parser.add_argument("--path", default="/user/ada")
    parser.add_argument("--cprofile", action="store_true", help="cProfile, not pyinstrument")
    parser.add_argument("--variant", choices=apps.VARIANTS,
                        help="one variant, the profiler's own report")
    parser.add_argument("--top", type=int, default=35, help="rows of cProfile's report")
    args = parser.parse_args(argv)
    use_pyinstrument = not args.cprofile and _have_pyinstrument()
    if args.variant:
        profilers = _profile([args.variant], args.path, args.calls, 1, use_pyinstrument)
        profilers[args.variant].print(args.top)
        return
    result = breakdown(args.calls, path=args.path, use_pyinstrument=use_pyinstrument)
    print(f"{result['profiler']}, GET {args.path}, {result['requests']} requests per "
          "variant, µs per request under the profiler:")
    print(markdown(result))


if __name__ == "__main__":
    main()
