"""The dashboard's short memory: the totals every few seconds, for the last few minutes.

A page that plots only what it polled itself is flat when it is opened after the traffic.
So each serving process samples the totals the time charts need (:func:`.snapshot.sample`)
in a daemon thread, and ``/dashboard/data.json`` hands the samples to the page, which draws
the recent past at once. The samples come from the merged metrics (every worker's files in
multiprocess mode), so whichever worker answers the page has the same history. Ordinary
requests do no work for it; the page computes the rates, from the differences.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import weakref
from typing import Callable, Iterable, TypedDict

from prometheus_client.metrics_core import Metric

from .snapshot import Sample, sample

__all__ = ["INTERVAL_S", "SPAN_S", "History", "Sampler"]

INTERVAL_S = 5.0
SPAN_S = 300.0


class History(TypedDict):
    """What ``data.json`` carries as ``history``: the samples, oldest first, and how they
    are taken (the page needs the interval to tell a gap from the usual spacing)."""

    interval_s: float
    span_s: float
    samples: list[Sample]


class Sampler:
    """Samples the totals every ``interval`` seconds and keeps ``span`` seconds of them.

    The one writer (the sampler's thread, or a test calling :meth:`tick`) swaps in a new
    tuple; readers take the reference. No lock is shared with request threads, and none can
    be inherited held by a forked child.
    """

    def __init__(self, collect: Callable[[], Iterable[Metric]],
                 report: Callable[[str, BaseException], None],
                 interval: float = INTERVAL_S, span: float = SPAN_S) -> None:
        """``collect`` returns the merged metric families; ``report(where, error)`` tells of
        a failed sample."""
        self.collect = collect
        self.report = report
        self.interval = interval
        self.span = span
        self.samples: tuple[Sample, ...] = ()
        self._size = int(span // interval) + 1  # both ends of the span
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """Add a sample of the totals now (``time.time()``); a failed collection is reported
        and leaves a gap, which the page shows as one."""
        try:
            with _fork_guard():
                families = list(self.collect())
        except Exception as error:  # noqa: BLE001 - the thread must keep sampling
            self.report("dashboard history sample", error)
            return
        self.samples = (*self.samples, sample(families, time.time()))[-self._size:]

    def start(self) -> None:
        """Sample in a daemon thread from now on; nothing to do if this process already is."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=_sample_while_alive, args=(weakref.ref(self),),
                                        name="hookwatch-dashboard-history", daemon=True)
        self._thread.start()

    def history(self) -> History:
        """The samples so far, for ``data.json``."""
        return {"interval_s": self.interval, "span_s": self.span, "samples": list(self.samples)}


def _sample_while_alive(ref: weakref.ReferenceType[Sampler]) -> None:
    """The thread: a sample, a sleep, until the sampler is gone. It holds the sampler only
    weakly, so an app (which owns its sampler) is freed as usual, and the thread then ends."""
    while (sampler := ref()) is not None:
        sampler.tick()
        interval = sampler.interval
        del sampler
        time.sleep(interval)


@functools.cache
def _fork_guard() -> threading.Lock:
    """The lock a sampler holds while it collects, which ``os.fork()`` takes too (registered
    once, at first use). ``runserver --processes`` forks the sampling process for every
    request: a child forked mid-collect would inherit the registry's lock held by a thread
    it does not have, and hang on its first scrape."""
    lock = threading.Lock()
    os.register_at_fork(before=lock.acquire, after_in_parent=lock.release,
                        after_in_child=lock.release)
    return lock
