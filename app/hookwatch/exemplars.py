"""Exemplars in multiprocess mode, which prometheus-client does not keep there.

Each process keeps, for each duration series and bucket, its latest exemplar (the request's
id, its trace id if any, the observed value and its time) and a daemon thread writes them
every second, when they changed, to a small file of its own in the multiprocess directory,
named like its metric files (``exemplars_slot2.json``): at most one exemplar per series and
bucket per slot. The scrape merges every file (:class:`ExemplarCollector`): for each bucket,
the most recent exemplar across live and dead slots, served as prometheus-client serves a
single process's. A file that does not parse (a worker killed mid-write on a filesystem
without atomic rename, a stray file) is skipped with one warning. A process killed with
``SIGKILL`` loses at most its last second of exemplars.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import weakref
from bisect import bisect_left
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

__all__ = ["ExemplarCollector", "ExemplarStore", "read_exemplars"]

PREFIX = "exemplars_"
WRITE_INTERVAL_S = 1.0
# (method, route, status, le) -> (exemplar labels, value, time)
Latest = dict[tuple[str, str, str, str], tuple[dict[str, str], float, float]]


class ExemplarStore:
    """One process's latest exemplar per duration series and bucket, written to
    ``directory/exemplars_<identity>.json`` by a daemon thread (started in each process on
    its first exemplar, since threads do not survive a fork)."""

    def __init__(self, directory: str, identity: Callable[[], str],
                 buckets: Sequence[float]) -> None:
        self.directory = directory
        self.identity = identity
        self._bounds = tuple(float(bound) for bound in buckets)
        self._le = [*(floatToGoString(bound) for bound in self._bounds), "+Inf"]
        self._latest: Latest = {}
        self.changed = False  # since the last write
        self._writer_pid: int | None = None

    def record(self, method: str, route: str, status: int, seconds: float,
               labels: dict[str, str]) -> None:
        """Keep ``labels`` as the latest exemplar of the request's series and bucket."""
        le = self._le[bisect_left(self._bounds, seconds)]
        self._latest[(method, route, str(status), le)] = (labels, seconds, time.time())
        self.changed = True
        if self._writer_pid != os.getpid():
            self._start_writer()

    def flush(self) -> None:
        """Write now if anything changed: a process about to end has no second to wait."""
        if self.changed:
            self.write()

    def write(self) -> None:
        """Write the exemplars to this process's file, whole (a temporary file renamed)."""
        self.changed = False
        entries = [[*key, labels, value, at] for key, (labels, value, at)
                   in list(self._latest.items())]
        path = Path(self.directory, f"{PREFIX}{self.identity()}.json")
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(entries), encoding="utf-8")
        os.replace(temporary, path)

    def _start_writer(self) -> None:
        self._writer_pid = os.getpid()
        store = weakref.ref(self)
        threading.Thread(target=_write_while_alive, args=(store,), daemon=True,
                         name="hookwatch-exemplars").start()


def _write_while_alive(store: weakref.ref[ExemplarStore]) -> None:
    """Write the store's exemplars every second they changed, until the store is freed."""
    while True:
        time.sleep(WRITE_INTERVAL_S)
        current = store()
        if current is None:
            return
        if current.changed:
            try:
                current.write()
            except OSError as error:  # a full disk: the next change tries again
                print(f"hookwatch: writing exemplars failed: {error!r}", file=sys.stderr)
        del current


def read_exemplars(directory: str, warn: Callable[[str, BaseException], None]) -> Latest:
    """Every process's exemplars, merged: for each series and bucket the most recent. A
    file that cannot be read or parsed is skipped, with ``warn(what, error)``."""
    merged: Latest = {}
    for path in sorted(Path(directory).glob(f"{PREFIX}*.json")):
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
            rows = [(tuple(entry[:4]), (entry[4], float(entry[5]), float(entry[6])))
                    for entry in entries]
        except (OSError, ValueError, TypeError, IndexError, KeyError) as error:
            warn(f"reading exemplar file {path.name} (skipped)", error)
            continue
        for key, exemplar in rows:
            if key not in merged or exemplar[2] > merged[key][2]:
                merged[key] = exemplar
    return merged


class ExemplarCollector:
    """The multiprocess collector's families, with each duration bucket's merged exemplar
    attached (the OpenMetrics exposition shows them; the text one leaves them out)."""

    def __init__(self, collector: Any, directory: str, family: str,
                 warn: Callable[[str, BaseException], None]) -> None:
        self.collector = collector
        self.directory = directory
        self.family = family
        self.warn = warn

    def collect(self) -> Iterator[Metric]:
        families: Iterable[Metric] = self.collector.collect()
        exemplars = read_exemplars(self.directory, self.warn)
        for metric in families:
            if metric.name == self.family and exemplars:
                metric.samples = [_with_exemplar(sample, exemplars) for sample in metric.samples]
            yield metric


def _with_exemplar(sample: Any, exemplars: Latest) -> Any:
    labels = sample.labels
    if not sample.name.endswith("_bucket"):
        return sample
    key = (labels.get("http_request_method"), labels.get("http_route"),
           labels.get("http_response_status_code"), labels.get("le"))
    found = exemplars.get(key)  # type: ignore[arg-type]
    if found is None:
        return sample
    return sample._replace(exemplar=Exemplar(*found))
