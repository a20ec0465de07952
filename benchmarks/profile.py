r"""Profile hookwatch's per-request path with cProfile (stdlib) or pyinstrument.

``python -m benchmarks.profile [--pyinstrument] [--calls N]`` runs ``GET /user/ada`` N times
on the fully instrumented app and prints where the time goes, hottest first.

``--no-profiler`` only makes the calls (after 500 warm-up calls), for an outside tool;
docs/performance.md counts instructions per request with callgrind from two such runs::

    valgrind --tool=callgrind --callgrind-out-file=calls.200 \
        venv/bin/python -m benchmarks.profile --variant bare --path / --no-profiler --calls 200
    # again with --calls 1200; (Ir of the second - Ir of the first) / 1000 per request

and misses of the L2 cache per request with cachegrind, its last level set to this CPU's L2
(1 MiB, 8-way, 64-byte lines per core, as ``lscpu`` shows), for three hash seeds::

    PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=yes --I1=32768,8,64 \
        --D1=32768,8,64 --LL=1048576,8,64 --cachegrind-out-file=/dev/null \
        venv/bin/python -m benchmarks.profile --variant bare --no-profiler --calls 200
    # again with --calls 2200; ("LL misses" of the second - of the first) / 2000 per request
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
from typing import Any

from . import apps
from .inprocess import call, make_environ

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--path", default="/user/ada")
    parser.add_argument("--pyinstrument", action="store_true", help="sampling profiler instead")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--variant", choices=apps.VARIANTS, default="hookwatch")
    parser.add_argument("--no-profiler", action="store_true", help="only make the calls")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        if args.variant == "hookwatch":
            app = apps.hookwatch(os.path.join(tmp, "requests.log"))
        else:
            app = getattr(apps, args.variant)()
        try:
            _run(app, make_environ(args.path), args)
        finally:
            apps.close_logs(app)


def _calls(app: Any, environ: dict[str, Any], count: int) -> None:
    for _ in range(count):
        call(app, environ)


def _run(app: Any, environ: dict[str, Any], args: argparse.Namespace) -> None:
    """500 warm-up calls, then ``args.calls`` timed by the chosen profiler (or none)."""
    _calls(app, environ, 500)
    if args.no_profiler:
        _calls(app, environ, args.calls)
        return
    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0001)
        profiler.start()
        _calls(app, environ, args.calls)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        return
    profile = cProfile.Profile()
    profile.enable()
    _calls(app, environ, args.calls)
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
