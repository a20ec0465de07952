"""Metric definitions on an injected registry, label helpers and exposition.

Nothing here needs Flask: build ``Metrics(CollectorRegistry())`` and read values back with
``registry.get_sample_value``. prometheus-client picks its value storage (in memory, or
mmapped files for multiprocess mode) when it is imported, from ``PROMETHEUS_MULTIPROC_DIR``;
so a multiprocess server sets that variable before anything imports this module.
"""

from __future__ import annotations

import platform
import threading
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
    In a single process the histograms are :class:`InMemoryHistogram`: one lock for all of
    a request's seven observations instead of two per observation.
    """

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        # Dashboards never read *_created series; dropping them shrinks the scrape.
        # prometheus-client offers this switch for the whole process only.
        disable_created_metrics()
        self.registry = registry
        self.multiprocess = is_multiprocess()
        self._lock = threading.Lock()  # held while a request's histograms are updated
        self.duration = self._histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ("http_request_method", "http_route", "http_response_status_code"),
            DURATION_BUCKETS,
        )
        self.active = Gauge(
            "http_server_active_requests",
            "Number of HTTP server requests in flight.",
            ("http_request_method",),
            multiprocess_mode="livesum",
            registry=registry,
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
        self._active_children: dict[str, Gauge] = {}
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
                                 self.registry)

    def active_for(self, method: str) -> Gauge:
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
        after_request phases and of its teardown."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.duration.labels(method, route, status),
                self.request_size.labels(method, route),
                self.response_size.labels(method, route),
            )
        duration, request_size, response_size = children
        with self._lock:
            duration.observe(seconds, exemplar)
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
