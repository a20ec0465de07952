"""A labelled gauge for one process, for the in-flight requests: up and down on every request.

prometheus-client's ``Gauge`` runs four Python calls per ``inc`` (an observability check, the
value object, its lock); here a child's ``inc`` and ``dec`` are one call and one lock each.
Exposed through prometheus-client's own ``GaugeMetricFamily``, so ``/metrics`` reads as
with a ``Gauge`` (``tests/test_gauges.py``).

Multiprocess mode cannot use it: there, values must live in prometheus-client's files.
"""

from __future__ import annotations

import threading
from typing import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily

from .histograms import child_for

__all__ = ["InMemoryGauge", "GaugeChild"]


class GaugeChild:
    """The value of one label set; ``inc`` and ``dec`` take the family's lock."""

    __slots__ = ("value", "_lock")

    def __init__(self, lock: threading.Lock) -> None:
        self.value = 0.0
        self._lock = lock

    def inc(self) -> None:
        with self._lock:
            self.value += 1

    def dec(self) -> None:
        with self._lock:
            self.value -= 1


class InMemoryGauge:
    """A gauge family with one label, registered on ``registry`` as a collector."""

    def __init__(self, name: str, documentation: str, labelname: str,
                 registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.labelname = labelname
        self._lock = threading.Lock()
        self._children: dict[str, GaugeChild] = {}
        registry.register(self)

    def labels(self, value: object) -> GaugeChild:
        """Return the child for ``value``, created at 0 if new."""
        return child_for(self._children, str(value), self._lock, lambda: GaugeChild(self._lock))

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.name, self.documentation, labels=(self.labelname,))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            snapshot = [(key, child.value) for key, child in self._children.items()]
        family = GaugeMetricFamily(self.name, self.documentation, labels=(self.labelname,))
        for key, value in snapshot:
            family.add_metric((key,), value)
        yield family
