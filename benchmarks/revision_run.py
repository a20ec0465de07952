"""One in-process run of a checked-out revision, for :mod:`benchmarks.compare`.

Run as ``python -P benchmarks/revision_run.py CALLS REPEATS`` with that revision's checkout
as the working directory and on ``PYTHONPATH``: it imports that revision's ``app`` and
``benchmarks``, times bare, hookwatch and exporter side by side and prints each batch's
seconds per request, in repeat order, as one JSON object keyed ``"variant route"`` (compare
pairs them with its own code, so an older revision's figures are summarised the same way).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from benchmarks import apps, inprocess

if __name__ == "__main__":
    calls, repeats = int(sys.argv[1]), int(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        variants = {"bare": apps.bare(),
                    "hookwatch": apps.hookwatch(os.path.join(tmp, "requests.log")),
                    "exporter": apps.exporter()}
        cells, _ = inprocess.run(variants, calls, repeats)
        print(json.dumps({f"{name} {route}": cell.samples
                          for (name, route), cell in cells.items()}))
