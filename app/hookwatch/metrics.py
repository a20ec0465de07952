"""hookwatch's metrics on an injected registry, label helpers and the exposition.

Nothing here needs Flask: build ``Metrics(CollectorRegistry())`` and read values back with
``registry.get_sample_value``. prometheus-client picks its value storage (in memory, or
mmapped files for multiprocess mode) when it is imported, from ``PROMETHEUS_MULTIPROC_DIR``;
so a multiprocess server sets that variable before anything imports this module.
"""

from __future__ import annotations

import platform
from importlib.metadata import version as installed_version
from typing import Any, Callable, Iterable

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client import values
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from . import multiproc
from .exemplars import ExemplarCollector, ExemplarStore
from .logs import FailureReporter

__all__ = [
    "DURATION_BUCKETS",
    "HTTP_METHODS",
    "PHASES",
    "Metrics",
    "is_multiprocess",
    "method_label",
]

# OpenTelemetry's default duration buckets (5 ms to 10 s), with four below them: a lesson
# route answers in well under a millisecond, where the defaults would put every request in
# the first bucket and every quantile near 5 ms.
DURATION_BUCKETS = (0.00025, 0.0005, 0.001, 0.0025,
                    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
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

    Looking a labelled child up takes a lock and builds a key; the caches make it one dict
    lookup per request. Their size is bounded by the label values real routes produce.
    """

    def __init__(self, registry: CollectorRegistry, version: str,
                 duration_buckets: Iterable[float] = DURATION_BUCKETS) -> None:
        self.registry = registry
        self.multiprocess = is_multiprocess()
        buckets = tuple(duration_buckets)
        # prometheus-client keeps exemplars in memory only; in multiprocess mode ours do
        self.exemplar_store = ExemplarStore(
            multiproc.directory(), multiproc.identity(), buckets) if self.multiprocess else None
        self.duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ("http_request_method", "http_route", "http_response_status_code"),
            buckets=buckets, registry=registry,
        )
        self.active = Gauge(
            "http_server_active_requests",
            "Number of HTTP server requests in flight.",
            ("http_request_method",), multiprocess_mode="livesum", registry=registry,
        )
        self.request_size, self.response_size = (
            Histogram(
                f"http_server_{kind}_body_size_bytes",
                f"Size of HTTP server {kind} bodies.",
                ("http_request_method", "http_route"),
                buckets=SIZE_BUCKETS, registry=registry,
            )
            for kind in ("request", "response")
        )
        self.phase = Histogram(
            "hookwatch_request_phase_duration_seconds",
            "Time spent in each phase of the request lifecycle.",
            ("phase",), buckets=buckets, registry=registry,
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
        build_info.labels(version, platform.python_version(), installed_version("flask")).set(1)
        self._phase_children = tuple(self.phase.labels(phase) for phase in PHASES)
        self._active_children: dict[str, Any] = {}
        # (method, route, status) -> duration, request size and response size children
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._exposition_registry = self._build_exposition_registry()

    def active_for(self, method: str) -> Any:
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
        phases: Iterable[float] = (),
    ) -> None:
        """Record one finished request: its duration (with ``exemplar``, if given), its body
        sizes (a response of unknown size is not observed) and the seconds of each phase
        it went through, in the order of ``PHASES`` (a request that never reached its
        response has fewer)."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.duration.labels(method, route, status),
                self.request_size.labels(method, route),
                self.response_size.labels(method, route),
            )
        duration, request_size, response_size = children
        if exemplar is not None and self.exemplar_store is not None:
            self.exemplar_store.record(method, route, status, seconds, exemplar)
            exemplar = None
        duration.observe(seconds, exemplar)
        request_size.observe(request_bytes)
        if response_bytes is not None:
            response_size.observe(response_bytes)
        for child, phase_seconds in zip(self._phase_children, phases):
            child.observe(phase_seconds)

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
            registry.register(ExemplarCollector(
                MultiProcessCollector(None), multiproc.directory(),
                "http_server_request_duration_seconds", FailureReporter().report))
        else:
            registry = self.registry
            if registry is REGISTRY:  # prometheus-client's global one has both already
                return registry
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        return registry

