"""What scattered memory costs inside a request, against the same work in a tight loop.

docs/performance.md explains hookwatch's added time by the memory its many small steps
touch, which Flask's own work evicts from the CPU's L2 cache between requests. This checks
that effect with nothing of hookwatch in it: a ``before_request`` function on the bare app
walks a chain of Python lists, one ``node = node[0]`` per list, as the interpreter chases
objects. The chain's lists are either made one after another (packed: neighbours in memory)
or picked at random among 8 MiB of lists (scattered: each list and its item array on cache
lines of their own, far apart). Both walks run the same bytecode the same number of times.

``python -m benchmarks.scatter [--lists N]`` prints µs per request over bare for each chain
(in-process, the same alternating batches as ``make bench``), and µs per walk in a loop
(timed as :mod:`benchmarks.parts` times its loops, less the loop's own cost).
"""

from __future__ import annotations

import argparse
import random
from typing import Any

from flask import Flask

from . import apps, inprocess
from .parts import median_us, no_setup

__all__ = ["chain", "main", "run", "walk"]

POOL_BYTES = 8 << 20  # well beyond the L2 cache (1 MiB per core here)
LIST_BYTES = 80  # what a one-item list takes: the list object with its GC header, its item array


def chain(nodes: list[list[Any]]) -> list[Any]:
    """Link ``nodes``, one-item lists holding ``None``, in order (each one's item becomes the
    next; the last keeps ``None``) and return the first."""
    for node, following in zip(nodes, nodes[1:]):
        node[0] = following
    return nodes[0]


def walk(node: list[Any] | None) -> None:
    """Follow a chain to its end."""
    while node is not None:
        node = node[0]


def _chains(lists: int, seed: int = 1) -> dict[str, list[Any]]:
    """The packed chain and the scattered one, by name, each of ``lists`` lists."""
    # The pool is freed on return; the lists picked from it stay where they were made. The
    # packed chain is the pool's last lists: made when the free holes that a long-running
    # process has everywhere were filled by the pool's start, so they are neighbours.
    pool = [[None] for _ in range(POOL_BYTES // LIST_BYTES)]
    return {"packed": chain(pool[-lists:]),
            "scattered": chain(random.Random(seed).sample(pool[:-lists], lists))}


def _walking(head: list[Any]) -> Flask:
    """The bare app, walking the chain from ``head`` before every request."""
    return apps.bare(lambda app: app.before_request(lambda: walk(head)))


def run(lists: int, calls: int, repeats: int, loop_walks: int = 20000) -> dict[str, Any]:
    """Chain -> ``{"in_request_us": {route: median µs added over bare}, "loop_us": µs}``."""
    chains = _chains(lists)
    variants = {"bare": apps.bare(), **{name: _walking(head) for name, head in chains.items()}}
    table = inprocess.summarise(*inprocess.run(variants, calls, repeats))
    return {
        name: {
            "in_request_us": {route: row[name]["added_us"] for route, row in table.items()},
            "loop_us": median_us((lambda: walk(head), no_setup), loop_walks, 5),
        }
        for name, head in chains.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", type=int, default=400, help="lists in each chain")
    parser.add_argument("--calls", type=int, default=inprocess.CALLS,
                        help="requests per timed batch")
    parser.add_argument("--repeats", type=int, default=inprocess.REPEATS,
                        help="batches per variant and route")
    args = parser.parse_args(argv)
    for name, figures in run(args.lists, args.calls, args.repeats).items():
        added = "  ".join(f"{route} +{us:.1f}" for route, us in figures["in_request_us"].items())
        print(f"{name}: in a loop {figures['loop_us']:.1f} µs; added to a request: {added} µs")


if __name__ == "__main__":
    main()
