"""InMemoryHistogram reads exactly like prometheus-client's Histogram, and loses no count."""

from __future__ import annotations

import threading

import pytest
from freezegun import freeze_time
from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from app.histograms import InMemoryHistogram
from app.metrics import DURATION_BUCKETS, Metrics

LABELS = ("http_request_method", "http_route")
# On a bound, between bounds, below the first, beyond the last, zero, negative, infinite.
AMOUNTS = [0.005, 0.0051, 0.001, 11.0, 0.0, -1.0, 0.1, 7.5, 2.0, float("inf")]


def _pair() -> tuple[CollectorRegistry, Histogram, CollectorRegistry, InMemoryHistogram]:
    disable_created_metrics()
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("x_seconds", "Help text.", LABELS, buckets=DURATION_BUCKETS,
                          registry=theirs)
    histogram = InMemoryHistogram("x_seconds", "Help text.", LABELS, DURATION_BUCKETS,
                                  threading.Lock(), ours)
    return theirs, reference, ours, histogram


@pytest.mark.parametrize("render", [generate_latest, generate_openmetrics])
def test_exposition_matches_prometheus_client(render) -> None:
    """The same observations (with exemplars, at the same instant) give the same bytes, in
    the text format and in OpenMetrics, for a series observed and one only created."""
    theirs, reference, ours, histogram = _pair()
    with freeze_time("2026-01-01T00:00:00.5"):
        for index, amount in enumerate(AMOUNTS):
            exemplar = {"request_id": f"r{index}"} if index % 2 else None
            reference.labels("GET", "/").observe(amount, exemplar)
            histogram.labels("GET", "/").observe(amount, exemplar)
        reference.labels("POST", "/user/<name>")
        histogram.labels("POST", "/user/<name>")
    assert render(ours) == render(theirs)
    assert ours.get_sample_value("x_seconds_count", {LABELS[0]: "GET", LABELS[1]: "/"}) == 10


def test_nan_and_explicit_inf_bucket_match_prometheus_client() -> None:
    """NaN goes into the sum and no bucket, and an explicit +Inf bound is not doubled, as
    with prometheus-client."""
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    buckets = (1, 2, float("inf"))
    reference = Histogram("y", "Help.", ("a",), buckets=buckets, registry=theirs)
    histogram = InMemoryHistogram("y", "Help.", ("a",), buckets, threading.Lock(), ours)
    for amount in (0.5, float("nan"), 3):
        reference.labels("x").observe(amount)
        histogram.labels("x").observe(amount)
    assert generate_latest(ours) == generate_latest(theirs)


def test_label_values_are_checked() -> None:
    """The wrong number of label values is refused, as prometheus-client does."""
    *_, histogram = _pair()
    with pytest.raises(ValueError, match="2 label values"):
        histogram.labels("GET")


def test_concurrent_requests_lose_no_count() -> None:
    """Eight threads recording while a ninth scrapes: every count and sum are exact, and
    every scrape sees a series' sum and count from the same moment."""
    metrics = Metrics(CollectorRegistry(), "test")
    threads, per_thread = 8, 5000

    def record() -> None:
        for _ in range(per_thread):
            metrics.record_request("GET", "/", 200, 0.25, 2, 3, None, (0.0, 0.25, 0.0), 0.0)

    workers = [threading.Thread(target=record) for _ in range(threads)]
    for worker in workers:
        worker.start()
    scrapes = []
    scraper = threading.Thread(target=lambda: scrapes.extend(
        list(metrics.registry.collect()) for _ in range(200)))
    scraper.start()
    for worker in workers:
        worker.join()
    scraper.join()
    for families in scrapes:  # each scrape is a consistent snapshot: sum = 0.25 x count
        [duration] = [f for f in families if f.name == "http_server_request_duration_seconds"]
        values = {sample.name: sample.value for sample in duration.samples
                  if sample.labels.get("http_route") == "/"}
        assert values.get("http_server_request_duration_seconds_sum", 0.0) == 0.25 * values.get(
            "http_server_request_duration_seconds_count", 0.0)
    get = metrics.registry.get_sample_value
    total = threads * per_thread
    labels = {"http_request_method": "GET", "http_route": "/"}
    assert get("http_server_request_duration_seconds_count",
               {**labels, "http_response_status_code": "200"}) == total
    assert get("http_server_request_duration_seconds_sum",
               {**labels, "http_response_status_code": "200"}) == 0.25 * total
    assert get("http_server_response_body_size_bytes_sum", labels) == 3 * total
    assert get("hookwatch_request_phase_duration_seconds_count", {"phase": "view"}) == total
