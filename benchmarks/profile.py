"""Profile hookwatch's per-request path with cProfile (stdlib) or pyinstrument.

``python -m benchmarks.profile [--pyinstrument] [--calls N]`` runs ``GET /user/ada`` N times
on the fully instrumented app and prints where the time goes, hottest first.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile

from . import apps
from .inprocess import call, make_environ

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--path", default="/user/ada")
    parser.add_argument("--pyinstrument", action="store_true", help="sampling profiler instead")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        app = apps.hookwatch(os.path.join(tmp, "requests.log"))
        environ = make_environ(args.path)
        for _ in range(500):
            call(app, environ)
        if args.pyinstrument:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0001)
            profiler.start()
            for _ in range(args.calls):
                call(app, environ)
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
            return
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.calls):
            call(app, environ)
        profile.disable()
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
