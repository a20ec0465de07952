"""``python manage.py traffic``: drive a bounded, repeatable mix of requests at a running app.

Also runnable without the manager: ``python -m app.traffic --count 100``. Exit status: 0
when the run finished or was stopped with Ctrl-C, 1 when the target is down, 2 when the
options or the target are refused.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from typing import Any, Iterator, Sequence, TextIO

from flask_script_ng import Command, Option
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .plan import DEFAULT_MIX, Plan, parse_mix
from .report import Summary
from .runner import Runner, TargetError, check_target

__all__ = ["Traffic", "main", "run_traffic"]

DEFAULT_DURATION = 60.0


def _positive(kind: type) -> Any:
    def convert(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    convert.__name__ = kind.__name__
    return convert


def _rate(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or more, got {text}")
    return value


def _mix(text: str) -> dict[str, int]:
    try:
        return parse_mix(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


OPTIONS = (
    Option("--base-url", default="http://127.0.0.1:5000",
           help="the running app (default: http://127.0.0.1:5000)"),
    Option("-n", "--count", type=_positive(int), default=None,
           help="stop after this many requests"),
    # -t (time), not -d: in `manage.py runserver` -d turns the debugger on.
    Option("-t", "--duration", type=_positive(float), default=None,
           help=f"stop after this many seconds (default: {DEFAULT_DURATION:g} when no --count)"),
    Option("-r", "--rate", type=_rate, default=10.0,
           help="requests per second over all threads; 0 for no limit (default: 10)"),
    Option("--concurrency", type=_positive(int), default=4,
           help="parallel connections (default: 4)"),
    Option("--mix", type=_mix, default=None,
           help="only these kinds, weighted, e.g. index=5,user=3,boom=1 (kinds: "
           + ", ".join(f"{kind}={weight}" for kind, weight in DEFAULT_MIX.items()) + ")"),
    Option("--seed", type=int, default=None,
           help="random seed; the same seed and mix send the same sequence"),
    Option("--timeout", type=_positive(float), default=10.0,
           help="seconds to wait for one response (default: 10)"),
    Option("--json", dest="as_json", action="store_true", default=False,
           help="print the summary as JSON on stdout"),
    Option("-q", "--quiet", action="store_true", default=False,
           help="no live progress bar"),
    Option("--allow-remote", action="store_true", default=False,
           help="allow a target that is not a loopback address"),
)


class Traffic(Command):
    """Send a realistic, bounded mix of requests to a running hookwatch app, with a live
    progress bar and a summary of requests by route and status and client-side latency."""

    option_list = OPTIONS

    def __call__(self, app: Any = None, *args: Any, **kwargs: Any) -> int:
        # A client of the app, not a part of it: no request context needed.
        return self.run(*args, **kwargs)

    def run(self, **options: Any) -> int:
        return run_traffic(**options)


def run_traffic(
    base_url: str = "http://127.0.0.1:5000",
    count: int | None = None,
    duration: float | None = None,
    rate: float = 10.0,
    concurrency: int = 4,
    mix: dict[str, int] | None = None,
    seed: int | None = None,
    timeout: float = 10.0,
    as_json: bool = False,
    quiet: bool = False,
    allow_remote: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Check the target, run, print the summary; return the exit status."""
    out = Console(file=stdout or sys.stdout, soft_wrap=True)
    err = Console(file=stderr or sys.stderr, soft_wrap=True, highlight=False)
    try:
        target = check_target(base_url, allow_remote)
    except TargetError as error:
        err.print(f"traffic: error: {error}", markup=False)
        return error.exit_status
    if count is None and duration is None:
        duration = DEFAULT_DURATION
    plan = Plan(mix, seed)
    summary = Summary()
    runner = Runner(target, plan, count=count, duration=duration, rate=rate,
                    concurrency=concurrency, timeout=timeout, on_result=summary.add)
    interrupted = _watch(runner, summary, err, quiet)
    facts = {"base_url": target.url, "seed": plan.seed, "elapsed_s": round(runner.elapsed, 3),
             "interrupted": interrupted}
    if as_json:
        out.file.write(json.dumps(summary.to_dict(**facts), indent=2) + "\n")
    else:
        _print_summary(out, summary, facts)
    if runner.down:
        err.print(f"traffic: error: {target.url} stopped answering ("
                  f"{', '.join(sorted(summary.errors))}); is the app still running?",
                  markup=False)
        return 1
    return 0


def _watch(runner: Runner, summary: Summary, err: Console, quiet: bool) -> bool:
    """Run with a live progress bar on stderr; return True if stopped by Ctrl-C."""
    bounded_by_count = runner.count is not None
    progress = Progress(
        SpinnerColumn(), TextColumn("[bold]traffic[/]"), BarColumn(),
        TextColumn("{task.fields[sent]} sent  {task.fields[rate]:.1f} req/s  "
                   "{task.fields[statuses]}"),
        TimeElapsedColumn(), console=err, disable=quiet, transient=False,
    )
    total = runner.count if bounded_by_count else runner.duration
    task = progress.add_task("traffic", total=total, sent=0, rate=0.0, statuses="")

    def refresh() -> None:
        elapsed = runner.elapsed
        done = summary.total if bounded_by_count else min(elapsed, runner.duration or elapsed)
        progress.update(task, completed=done, sent=summary.total,
                        rate=summary.total / elapsed if elapsed else 0.0,
                        statuses=summary.status_text())

    interrupted = False
    with progress, _ctrl_c_interrupts():
        runner.start()
        try:
            while not runner.wait(0.1):
                refresh()
        except KeyboardInterrupt:
            interrupted = True
            runner.stop()
            runner.wait()
        refresh()
        if not interrupted and not runner.down:
            progress.update(task, completed=total)
    return interrupted


@contextlib.contextmanager
def _ctrl_c_interrupts() -> Iterator[None]:
    """Make Ctrl-C raise KeyboardInterrupt for the run, whatever SIGINT was set to before.

    Python installs its KeyboardInterrupt handler only when SIGINT is not ignored at start;
    it is ignored for ``cmd &`` run by a non-interactive shell (``make test &``, a script)
    and by some CI runners, and ``kill -INT`` would then not stop the run at all.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (and only it gets signals)
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_summary(out: Console, summary: Summary, facts: dict[str, Any]) -> None:
    data = summary.to_dict(**facts)
    stopped = " (stopped by Ctrl-C)" if facts["interrupted"] else ""
    out.print(summary.table(f"traffic to {facts['base_url']}{stopped}"))
    errors = ", ".join(f"{name} {n}" for name, n in summary.errors.items()) or "none"
    out.print(f"{data['requests']} requests in {facts['elapsed_s']:.1f} s "
              f"({data['rate_rps'] or 0:.1f} req/s); connection errors: {errors}; "
              f"repeat with --seed {facts['seed']}")
    out.print(f"watch it at {facts['base_url']}/dashboard", markup=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m app.traffic``."""
    parser = argparse.ArgumentParser(prog="python -m app.traffic", description=Traffic.__doc__)
    for option in OPTIONS:
        parser.add_argument(*option.args, **option.kwargs)
    return run_traffic(**vars(parser.parse_args(argv)))
