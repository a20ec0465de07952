"""Metric definitions on an injected registry, label helpers and exposition.

Nothing here needs Flask: build ``Metrics(CollectorRegistry())`` and read values back with
``registry.get_sample_value``. prometheus-client picks its value storage (in memory, or
mmapped files for multiprocess mode) when it is imported, from ``PROMETHEUS_MULTIPROC_DIR``;
so a multiprocess server sets that variable before anything imports this module.
"""

from __future__ import annotations

import platform
import threading
import time
from collections import deque
from typing import Any, Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client import values
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from .gauges import GaugeChild, InMemoryGauge
from .histograms import InMemoryHistogram

__all__ = [
    "DURATION_BUCKETS",
    "HTTP_METHODS",
    "PHASES",
    "Metrics",
    "is_multiprocess",
    "method_label",
]

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
SIZE_BUCKETS = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
# The eight methods of RFC 9110 plus PATCH (RFC 5789): OpenTelemetry's known methods.
HTTP_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
OTHER_METHOD = "_OTHER"
PHASES = ("before_request", "view", "after_request", "teardown")
# In a single process, requests wait in a queue to be observed in batches of about this many
# (the app observes a batch once a response has gone out: batch_waiting); record_request
# observes the queue itself only if it reaches QUEUE_LIMIT, so it stays bounded.
OBSERVE_BATCH = 64
QUEUE_LIMIT = 16 * OBSERVE_BATCH


def method_label(method: str) -> str:
    """Return ``method`` if it is standard, else ``_OTHER``: odd methods cannot add series."""
    return method if method in HTTP_METHODS else OTHER_METHOD


def is_multiprocess() -> bool:
    """True when prometheus-client stores values in ``PROMETHEUS_MULTIPROC_DIR`` files.

    Asks prometheus-client itself: it decided at import, from the variable's presence (an
    empty value counts, and means the current directory).
    """
    return values.ValueClass is not values.MutexValue


class Metrics:
    """Every hookwatch metric, registered on ``registry``, with cached label children.

    Looking up a labelled child costs about a microsecond; the caches make the per-request
    cost a dict lookup. Their size is bounded by the label values real routes produce.
    In a single process the histograms are :class:`InMemoryHistogram`, and a request's seven
    observations wait in a queue: :meth:`record_request` appends them, and they are observed
    with the others queued, under one lock, before any histogram is read, when the app
    calls :meth:`observe_queued` (once a batch waits, see :meth:`batch_waiting`), or once
    ``QUEUE_LIMIT`` requests wait. Every read sees every request recorded before it; a
    request costs an append instead of seven observations done cold (see
    docs/performance.md). The in-flight gauge is an :class:`InMemoryGauge` there. Both read
    on ``/metrics`` as prometheus-client's own.
    """

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        # Dashboards never read *_created series; dropping them shrinks the scrape.
        # prometheus-client offers this switch for the whole process only.
        disable_created_metrics()
        self.registry = registry
        self.multiprocess = is_multiprocess()
        self._lock = threading.Lock()  # held while requests' histograms are updated
        # Requests recorded and not yet observed (single process); appends and pops of a
        # deque are atomic, so recording threads take no lock.
        self._queued: deque[tuple[Any, ...]] | None = None if self.multiprocess else deque()
        # Where a failure to observe a queued request goes, ``(where, error)``; the app's
        # lifecycle sets its reporter (init_app). None: it is raised.
        self.report_failure: Callable[[str, BaseException], None] | None = None
        self.duration = self._histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ("http_request_method", "http_route", "http_response_status_code"),
            DURATION_BUCKETS,
        )
        self.active = self._in_flight_gauge(
            "http_server_active_requests",
            "Number of HTTP server requests in flight.",
            "http_request_method",
        )
        self.request_size, self.response_size = (
            self._histogram(
                f"http_server_{kind}_body_size_bytes",
                f"Size of HTTP server {kind} bodies.",
                ("http_request_method", "http_route"),
                SIZE_BUCKETS,
            )
            for kind in ("request", "response")
        )
        self.phase = self._histogram(
            "hookwatch_request_phase_duration_seconds",
            "Time spent in each phase of the request lifecycle.",
            ("phase",),
            DURATION_BUCKETS,
        )
        self.exceptions = Counter(
            "hookwatch_exceptions",
            "Exceptions that escaped a view or a hook.",
            ("http_route", "error_type"),
            registry=registry,
        )
        self.warmup_duration = Gauge(
            "hookwatch_warmup_duration_seconds",
            "How long the last successful warm-up took.",
            multiprocess_mode="max",
            registry=registry,
        )
        self.ready = Gauge(
            "hookwatch_ready",
            "1 once the warm-up has finished in this process, else 0.",
            multiprocess_mode="livemin",
            registry=registry,
        )
        build_info = Gauge(
            "hookwatch_build_info",
            "Build and runtime versions; always 1.",
            ("version", "python_version", "flask_version"),
            multiprocess_mode="max",
            registry=registry,
        )
        build_info.labels(version, platform.python_version(), flask_version()).set(1)
        self._phase_children = tuple(self.phase.labels(phase) for phase in PHASES)
        self._active_children: dict[str, Gauge | GaugeChild] = {}
        # (method, route, status) -> duration, request size and response size children
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._exposition_registry = self._build_exposition_registry()

    def _histogram(self, name: str, documentation: str, labelnames: tuple[str, ...],
                   buckets: tuple[float, ...]) -> Any:
        """prometheus-client's file-backed Histogram in multiprocess mode, else ours."""
        if self.multiprocess:
            return Histogram(name, documentation, labelnames, buckets=buckets,
                             registry=self.registry)
        return InMemoryHistogram(name, documentation, labelnames, buckets, self._lock,
                                 self.registry, before_collect=self.observe_queued)

    def _in_flight_gauge(self, name: str, documentation: str, labelname: str) -> Any:
        """prometheus-client's file-backed Gauge (summed over live processes) in
        multiprocess mode, else ours."""
        if self.multiprocess:
            return Gauge(name, documentation, (labelname,), multiprocess_mode="livesum",
                         registry=self.registry)
        return InMemoryGauge(name, documentation, labelname, self.registry)

    def active_for(self, method: str) -> Gauge | GaugeChild:
        """Return the in-flight gauge child for an already normalised ``method``."""
        child = self._active_children.get(method)
        if child is None:
            child = self._active_children[method] = self.active.labels(method)
        return child

    def precreate(self) -> None:
        """Create the series known in advance so dashboards start at zero, not at "no data"."""
        for method in (*HTTP_METHODS, OTHER_METHOD):
            self.active_for(method)

    def record_request(
        self,
        method: str,
        route: str,
        status: int,
        seconds: float,
        request_bytes: int,
        response_bytes: int | None,
        exemplar: dict[str, str] | None = None,
        phases: tuple[float, float, float] | None = None,
        teardown: float | None = None,
    ) -> None:
        """Record one finished request: its duration, body sizes (a response of unknown
        size is not observed) and, when given, the seconds of its before_request, view and
        after_request phases and of its teardown.

        In a single process the request is queued (the exemplar's time is taken now); in
        multiprocess mode it is observed at once, into the files, without the exemplar
        (prometheus-client keeps none there).
        """
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:  # labels() takes the lock: not while it is held
            children = self._request_children[key] = (
                self.duration.labels(method, route, status),
                self.request_size.labels(method, route),
                self.response_size.labels(method, route),
            )
        queued = self._queued
        if queued is None:
            with self._lock:
                self._observe(children, seconds, request_bytes, response_bytes, None, None,
                              phases, teardown)
            return
        queued.append((children, seconds, request_bytes, response_bytes, exemplar,
                       time.time() if exemplar else None, phases, teardown))
        if len(queued) >= QUEUE_LIMIT:
            self.observe_queued()

    def batch_waiting(self) -> bool:
        """Whether ``OBSERVE_BATCH`` requests or more wait to be observed (single process)."""
        return self._queued is not None and len(self._queued) >= OBSERVE_BATCH

    def observe_queued(self) -> None:
        """Observe every request queued by :meth:`record_request` (single process); called
        before each histogram is read. A request whose observation fails is reported (see
        ``report_failure``) and the others are still observed: a scrape never fails for it."""
        queued = self._queued
        if not queued:
            return
        with self._lock:
            while queued:  # popleft cannot find it empty: only the lock's holder pops
                request = queued.popleft()
                try:
                    self._observe(*request)
                except Exception as error:
                    if self.report_failure is None:
                        raise
                    self.report_failure("observing queued requests", error)

    def _observe(self, children: tuple[Any, Any, Any], seconds: float, request_bytes: int,
                 response_bytes: int | None, exemplar: dict[str, str] | None,
                 exemplar_time: float | None, phases: tuple[float, float, float] | None,
                 teardown: float | None) -> None:
        """One request's observations, into its duration and size children; the lock is
        held."""
        duration, request_size, response_size = children
        if exemplar is None:
            duration.observe(seconds)
        else:
            duration.observe(seconds, exemplar, exemplar_time)
        request_size.observe(request_bytes)
        if response_bytes is not None:
            response_size.observe(response_bytes)
        if phases is not None:
            for child, phase_seconds in zip(self._phase_children, phases):
                child.observe(phase_seconds)
        if teardown is not None:
            self._phase_children[-1].observe(teardown)

    def count_exception(self, route: str, error_type: str) -> None:
        """Count one exception that escaped a view or a hook."""
        self.exceptions.labels(route, error_type).inc()

    def collect(self) -> Iterable[Metric]:
        """Every metric family as ``/metrics`` serves it (merged over processes in
        multiprocess mode)."""
        return self._exposition_registry.collect()

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """Return the exposition body and its content type, chosen by the ``Accept`` header."""
        encoder: Callable[[CollectorRegistry], bytes]
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self._exposition_registry), content_type

    def _build_exposition_registry(self) -> CollectorRegistry:
        """Single process: our registry plus process and platform collectors.

        Multiprocess: a registry that merges every process's files at scrape time; the
        process collector then describes only the process that answers the scrape.
        """
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        else:
            registry = self.registry
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        return registry


def flask_version() -> str:
    """Return the installed Flask version (``flask.__version__`` is deprecated)."""
    from importlib.metadata import version

    return version("flask")
