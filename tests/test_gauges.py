"""InMemoryGauge reads exactly like prometheus-client's Gauge."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Gauge, disable_created_metrics
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from app.gauges import InMemoryGauge


@pytest.mark.parametrize("render", [generate_latest, generate_openmetrics])
def test_exposition_matches_prometheus_client(render) -> None:
    """The same steps give the same bytes, text and OpenMetrics, for children moved up and
    down, below zero, and only created."""
    disable_created_metrics()
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Gauge("x_active", "Help text.", ("method",), registry=theirs)
    gauge = InMemoryGauge("x_active", "Help text.", "method", ours)
    for method, steps in (("GET", "+++-"), ("POST", "-"), ("PUT", ""), (7, "+")):
        for step in steps:
            getattr(reference.labels(method), "inc" if step == "+" else "dec")()
            getattr(gauge.labels(method), "inc" if step == "+" else "dec")()
        reference.labels(method)
        gauge.labels(method)
    assert render(ours) == render(theirs)
    assert ours.get_sample_value("x_active", {"method": "GET"}) == 2

