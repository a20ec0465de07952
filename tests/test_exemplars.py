"""Exemplars in multiprocess mode: per-process files, merged at scrape time."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from app.hookwatch.exemplars import ExemplarCollector, ExemplarStore, read_exemplars
from app.hookwatch.logs import FailureReporter

FAMILY = "http_server_request_duration_seconds"
BUCKETS = (0.001, 0.01, 0.1)


def store(directory: Path, identity: str) -> ExemplarStore:
    return ExemplarStore(str(directory), lambda: identity, BUCKETS)


class Files:
    """What the multiprocess collector would yield: one duration series, counts given."""

    def collect(self) -> Iterator[Any]:
        family = HistogramMetricFamily(
            FAMILY, "Duration.", labels=("http_request_method", "http_route",
                                         "http_response_status_code"))
        family.add_metric(("GET", "/", "200"), [("0.001", 2.0), ("0.01", 3.0), ("0.1", 3.0),
                                                ("+Inf", 3.0)], 0.012)
        yield family


def scraped(directory: Path, openmetrics: bool, reporter: FailureReporter) -> str:
    registry = CollectorRegistry()
    registry.register(ExemplarCollector(Files(), str(directory), FAMILY, reporter.report))
    encode = generate_openmetrics if openmetrics else generate_latest
    return encode(registry).decode()


class TestStore:
    def test_one_exemplar_per_series_and_bucket_the_latest(self, tmp_path: Path) -> None:
        """Many requests in one bucket leave one exemplar, the last one's; the file holds
        one entry per series and bucket seen."""
        exemplars = store(tmp_path, "slot0")
        for number in range(100):
            exemplars.record("GET", "/", 200, 0.0005, {"request_id": f"r{number}"})
        exemplars.record("GET", "/", 200, 0.05, {"request_id": "slow", "trace_id": "t" * 32})
        exemplars.write()
        entries = json.loads((tmp_path / "exemplars_slot0.json").read_text())
        assert [(entry[3], entry[4]) for entry in entries] == [
            ("0.001", {"request_id": "r99"}), ("0.1", {"request_id": "slow", "trace_id": "t" * 32})]
        assert not exemplars.changed

    def test_a_daemon_thread_writes_what_changed(self, tmp_path: Path) -> None:
        """Recording starts the writer; within about a second the file exists."""
        exemplars = store(tmp_path, "slot1")
        exemplars.record("GET", "/", 200, 0.002, {"request_id": "written"})
        deadline = time.monotonic() + 5
        path = tmp_path / "exemplars_slot1.json"
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "written" in path.read_text()


class TestMerge:
    def test_the_most_recent_across_slots_wins(self, tmp_path: Path) -> None:
        """Two workers' files (one of them may be a dead worker's): per bucket, the newer."""
        older, newer = store(tmp_path, "slot0"), store(tmp_path, "slot1")
        older.record("GET", "/", 200, 0.0005, {"request_id": "older"})
        older.record("GET", "/", 200, 0.05, {"request_id": "only-in-slot0"})
        time.sleep(0.01)
        newer.record("GET", "/", 200, 0.0007, {"request_id": "newer"})
        older.write()
        newer.write()
        merged = read_exemplars(str(tmp_path), FailureReporter().report)
        assert {key[3]: value[0]["request_id"] for key, value in merged.items()} == {
            "0.001": "newer", "0.1": "only-in-slot0"}

    def test_openmetrics_carries_them_and_text_does_not(self, tmp_path: Path) -> None:
        exemplars = store(tmp_path, "slot0")
        exemplars.record("GET", "/", 200, 0.0005, {"request_id": "abc"})
        exemplars.write()
        reporter = FailureReporter()
        [line] = [line for line in scraped(tmp_path, True, reporter).splitlines()
                  if 'request_id="abc"' in line]
        assert line.startswith(f'{FAMILY}_bucket{{') and 'le="0.001"' in line
        assert "# {request_id=\"abc\"} 0.0005 " in line
        assert "abc" not in scraped(tmp_path, False, reporter)

    def test_a_torn_file_is_skipped_with_one_warning(self, tmp_path: Path, capfd) -> None:
        """A half-written file never breaks the scrape: the others' exemplars are served,
        and stderr says so once, however many scrapes follow."""
        good = store(tmp_path, "slot0")
        good.record("GET", "/", 200, 0.0005, {"request_id": "good"})
        good.write()
        (tmp_path / "exemplars_slot1.json").write_text('[["GET", "/", "200", "0.0', "utf-8")
        reporter = FailureReporter()
        for _ in range(3):
            assert 'request_id="good"' in scraped(tmp_path, True, reporter)
        warnings = [line for line in capfd.readouterr().err.splitlines() if "hookwatch" in line]
        assert len(warnings) == 1 and "exemplars_slot1.json" in warnings[0]


def test_exemplars_can_be_turned_off(make_app) -> None:
    """HOOKWATCH_EXEMPLARS=False: the OpenMetrics exposition carries no request ids."""
    client = make_app(HOOKWATCH_EXEMPLARS=False).test_client()
    client.get("/")
    body = client.get("/metrics", headers={"Accept": "application/openmetrics-text"}).text
    assert "request_id" not in body


def test_a_gunicorn_worker_ending_gracefully_writes_its_last_exemplars(tmp_path: Path) -> None:
    """worker_exit flushes what the writer thread has not written yet; a worker whose app
    never loaded has nothing to write and no error."""
    from types import SimpleNamespace

    from app.hookwatch.gunicorn import worker_exit

    exemplars = store(tmp_path, "slot3")
    exemplars.record("GET", "/", 200, 0.0005, {"request_id": "last"})
    lifecycle = SimpleNamespace(metrics=SimpleNamespace(exemplar_store=exemplars))
    worker_exit(None, SimpleNamespace(wsgi=SimpleNamespace(extensions={"hookwatch": lifecycle})))
    assert "last" in (tmp_path / "exemplars_slot3.json").read_text()
    worker_exit(None, SimpleNamespace())
