"""A labelled histogram for one process whose observations share a caller's lock.

prometheus-client's ``Histogram`` takes two locks per observation and finds the bucket with
a loop in Python; every request makes seven observations. :class:`InMemoryHistogram` keeps
plain counts, finds the bucket with ``bisect``, and leaves locking to its caller, so that
:class:`~app.metrics.Metrics` takes one lock for many requests' observations (it queues them
and observes them in batches; ``before_collect`` lets it observe what is queued before a
histogram is read). It is
exposed through prometheus-client's own ``HistogramMetricFamily``: ``/metrics`` reads the
same as with a ``Histogram`` (``tests/test_histograms.py`` compares the two). It writes no
``_created`` series; hookwatch disables them for every metric (dashboards do not use them).

Multiprocess mode cannot use it: there, values must live in prometheus-client's files.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from itertools import accumulate
from typing import Any, Callable, Iterator, Sequence, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

__all__ = ["InMemoryHistogram", "Series", "child_for"]

Child = TypeVar("Child")


def child_for(children: dict[Any, Child], key: Any, lock: threading.Lock,
              make: Callable[[], Child]) -> Child:
    """The child of a family for ``key``, made by ``make`` if new; made under ``lock``,
    which the family's ``collect()`` holds while it iterates ``children``."""
    child = children.get(key)
    if child is None:
        with lock:
            child = children.setdefault(key, make())
    return child


class Series:
    """The counts of one label set. :meth:`observe` must be called with the family's lock
    held; it takes none itself."""

    __slots__ = ("upper_bounds", "counts", "total", "exemplars")

    def __init__(self, upper_bounds: tuple[float, ...]) -> None:
        self.upper_bounds = upper_bounds
        self.counts = [0] * (len(upper_bounds) + 1)  # the last one is +Inf
        self.total = 0.0
        # The latest exemplar of each bucket, as prometheus-client keeps: (labels, value, time)
        self.exemplars: list[tuple[dict[str, str], float, float] | None] = [None] * len(self.counts)

    def observe(self, amount: float, exemplar: dict[str, str] | None = None,
                exemplar_time: float | None = None) -> None:
        """Count ``amount`` in its bucket (upper bounds are inclusive, as in Prometheus).

        ``exemplar`` labels are not validated: ours (a request id of at most 64 characters,
        a 32-digit trace id) stay within OpenMetrics' 128-character limit. Its timestamp is
        ``exemplar_time`` (when the request was recorded), else now.
        """
        self.total += amount
        if amount != amount:  # NaN: in the sum, in no bucket (as prometheus-client does)
            return
        bucket = bisect_left(self.upper_bounds, amount)
        self.counts[bucket] += 1
        if exemplar:
            self.exemplars[bucket] = (exemplar, amount,
                                      time.time() if exemplar_time is None else exemplar_time)


class InMemoryHistogram:
    """A histogram family, registered on ``registry`` as a collector. Label values are
    strings (``str()`` is applied, as prometheus-client does); ``lock`` guards every series.
    ``before_collect`` is called, without the lock, each time the family is read."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 buckets: Sequence[float], lock: threading.Lock,
                 registry: CollectorRegistry,
                 before_collect: Callable[[], None] | None = None) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        bounds = [float(bound) for bound in buckets]
        if bounds and bounds[-1] == math.inf:
            bounds.pop()  # +Inf is always the last bucket
        self._upper_bounds = tuple(bounds)
        self._le = [*(floatToGoString(bound) for bound in self._upper_bounds), "+Inf"]
        self._lock = lock
        self._before_collect = before_collect
        self._series: dict[tuple[str, ...], Series] = {}
        registry.register(self)

    def labels(self, *values: object) -> Series:
        """Return the series for ``values``, created (empty, so exposed as zeros) if new."""
        key = tuple(str(value) for value in values)
        if len(key) != len(self.labelnames):
            raise ValueError(f"{self.name} takes {len(self.labelnames)} label values")
        return child_for(self._series, key, self._lock, lambda: Series(self._upper_bounds))

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        if self._before_collect is not None:
            self._before_collect()
        with self._lock:
            snapshot = [(key, list(series.counts), series.total, list(series.exemplars))
                        for key, series in self._series.items()]
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, counts, total, exemplars in snapshot:
            buckets = [
                (le, float(count)) if exemplar is None else (le, float(count), Exemplar(*exemplar))
                for le, count, exemplar in zip(self._le, accumulate(counts), exemplars)
            ]
            family.add_metric(key, buckets, total)
        yield family
