"""Compare revisions: whole in-process runs of each, alternating, so that a change of a few
microseconds can be told from this machine's drift.

``python -m benchmarks.compare OLD NEW [--runs 3]`` checks each revision out in a temporary
``git worktree``, then runs :mod:`benchmarks.revision_run` in each in turn, ``--runs``
times, in a fresh interpreter every time. Printed per revision and route: the medians over
the runs of hookwatch's and the exporter's added µs over bare (each paired with the batches
of its own run's bare, as :func:`benchmarks.inprocess.added_us` does), the gap between
the two, and their ratio (the median over runs of each run's ratio): the gap grows and
shrinks with the speed the CPU ran at, the ratio much less. Comparing apps inside one
process, as the breakdown does, can mislead for effects under about 2 µs; this cannot
share that bias.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .inprocess import CALLS, REPEATS, ROUTES, Cell, added_us

__all__ = ["main", "summarise_runs"]

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().with_name("revision_run.py")


def _git(*args: str) -> str:
    # safe.directory: this checkout is the code being run, so git may trust it even when
    # another user owns it (a CI clone), which git otherwise refuses.
    command = ["git", "-c", f"safe.directory={ROOT}", "-C", str(ROOT), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def _measure(tree: Path, calls: int, repeats: int) -> dict[str, list[float]]:
    """One run in ``tree``'s code: each batch's seconds per request, keyed ``"variant route"``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    output = subprocess.run([sys.executable, "-P", str(RUNNER), str(calls), str(repeats)],
                            cwd=tree, env=env, check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def summarise_runs(runs: list[dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Route -> hookwatch's and the exporter's added µs (medians over runs), their gap and
    the median of the runs' ratios of hookwatch's added µs to the exporter's."""
    table = {}
    for route, _, _ in ROUTES:
        per_run: dict[str, list[float]] = {"hookwatch": [], "exporter": []}
        for run in runs:
            cells = {(variant, route): Cell(run[f"{variant} {route}"])
                     for variant in ("bare", *per_run)}
            for name, figures in per_run.items():
                figures.append(added_us(cells, name, route))
        added = {name: statistics.median(figures) for name, figures in per_run.items()}
        table[route] = {**added, "gap": added["hookwatch"] - added["exporter"],
                        "ratio": statistics.median(
                            h / e for h, e in zip(per_run["hookwatch"], per_run["exporter"]))}
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+", help="git revisions, e.g. HEAD~3 HEAD")
    parser.add_argument("--runs", type=int, default=3, help="runs per revision")
    parser.add_argument("--calls", type=int, default=CALLS, help="requests per timed batch")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="batches per variant and route")
    args = parser.parse_args(argv)

    commits = [_git("rev-parse", "--verify", f"{revision}^{{commit}}")
               for revision in args.revisions]
    runs: dict[int, list[dict[str, list[float]]]] = {index: [] for index in range(len(commits))}
    with tempfile.TemporaryDirectory(prefix="hookwatch-compare-") as tmp:
        trees: list[Path] = []
        try:
            for index, commit in enumerate(commits):
                trees.append(Path(tmp) / str(index))
                _git("worktree", "add", "--detach", str(trees[-1]), commit)
            for run in range(args.runs):
                shift = run % len(trees)  # rotate who goes first
                for index in [*range(shift, len(trees)), *range(shift)]:
                    runs[index].append(_measure(trees[index], args.calls, args.repeats))
        finally:
            for tree in trees:
                _git("worktree", "remove", "--force", str(tree))
    print(f"{args.runs} alternating runs per revision, {args.repeats} x {args.calls} calls each; "
          "medians of added µs over bare:")
    print("| revision | route | hookwatch | exporter | gap | hookwatch / exporter |\n"
          "|---|---|---:|---:|---:|---:|")
    for index, revision in enumerate(args.revisions):
        for route, row in summarise_runs(runs[index]).items():
            print(f"| {revision} ({commits[index][:7]}) | `{route}` | {row['hookwatch']:+.1f} | "
                  f"{row['exporter']:+.1f} | {row['gap']:+.1f} | {row['ratio']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
