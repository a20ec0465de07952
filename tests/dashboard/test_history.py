"""The dashboard's history: samples of the merged totals, bounded, taken by a daemon thread."""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref
from typing import Any, Iterable

import pytest
from freezegun import freeze_time
from prometheus_client import CollectorRegistry

from app.dashboard.history import Sampler
from app.dashboard.snapshot import sample
from app.hookwatch.metrics import Metrics
from tests.servers import wait_for


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry(), "test")


def record(metrics: Metrics, route: str, status: int, n: int = 1) -> None:
    for _ in range(n):
        metrics.record_request("GET", route, status, 0.001, 0, 10)


class Failures:
    """A ``report`` callable that keeps what it was told."""

    def __init__(self) -> None:
        self.reported: list[tuple[str, BaseException]] = []

    def __call__(self, where: str, error: BaseException) -> None:
        self.reported.append((where, error))


class TestSample:
    def test_totals_by_route_errors_and_in_flight(self, metrics):
        metrics.precreate()
        record(metrics, "/", 200, 3)
        record(metrics, "/boom", 500, 2)
        record(metrics, "", 404)
        metrics.active_for("GET").inc()
        assert sample(metrics.registry.collect(), 12.5) == {
            "time": 12.5, "requests": 6, "errors_5xx": 2, "in_flight": 1,
            "routes": {"/": 3, "/boom": 2, "": 1},
        }

    def test_nothing_recorded(self, metrics):
        assert sample(metrics.registry.collect(), 0.0) == {
            "time": 0.0, "requests": 0, "errors_5xx": 0, "in_flight": 0, "routes": {}}


class TestSampler:
    def test_tick_samples_now(self, metrics):
        """Each tick adds the totals at ``time.time()``, oldest first."""
        sampler = Sampler(metrics.registry.collect, Failures())
        with freeze_time("2026-01-02 03:04:05") as clock:
            sampler.tick()
            record(metrics, "/", 200, 4)
            clock.tick(5)
            sampler.tick()
        start = 1767323045.0
        assert [(s["time"], s["requests"]) for s in sampler.samples] == [(start, 0), (start + 5, 4)]
        assert sampler.history() == {"interval_s": 5.0, "span_s": 300.0,
                                     "samples": list(sampler.samples)}

    def test_keeps_the_span(self, metrics):
        """span / interval + 1 samples cover the span end to end; older ones are dropped."""
        sampler = Sampler(metrics.registry.collect, Failures(), interval=5, span=20)
        with freeze_time("2026-01-02") as clock:
            for _ in range(8):
                record(metrics, "/", 200)
                sampler.tick()
                clock.tick(5)
        assert [s["requests"] for s in sampler.samples] == [4, 5, 6, 7, 8]
        assert sampler.samples[-1]["time"] - sampler.samples[0]["time"] == 20

    def test_a_failed_collection_is_reported_and_leaves_a_gap(self, metrics):
        failures = Failures()
        error = OSError("a metrics file vanished")
        answers: list[Any] = [metrics.registry.collect, error, metrics.registry.collect]

        def collect() -> Iterable[Any]:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer()

        sampler = Sampler(collect, failures)
        for _ in range(3):
            sampler.tick()
        assert len(sampler.samples) == 2
        assert failures.reported == [("dashboard history sample", error)]

    def test_thread_samples_every_interval_until_the_sampler_is_gone(self, metrics):
        """A daemon thread; it holds the sampler weakly and ends once the sampler is freed;
        a second start while it runs starts nothing."""
        before = set(threading.enumerate())
        sampler = Sampler(metrics.registry.collect, Failures(), interval=0.01)
        sampler.start()
        sampler.start()
        threads = set(threading.enumerate()) - before
        assert len(threads) == 1
        thread = threads.pop()
        assert thread.daemon and thread.name == "hookwatch-dashboard-history"
        wait_for(lambda: len(sampler.samples) >= 3, timeout=5, what="three samples")
        ref = weakref.ref(sampler)
        del sampler
        gc.collect()
        assert ref() is None
        thread.join(timeout=5)
        assert not thread.is_alive()

    def test_a_fork_waits_for_a_collection_and_the_child_can_sample(self, metrics):
        """``runserver --processes`` forks the sampling process: never in the middle of a
        collection (the child would inherit its locks held), and the child is not locked out."""
        inside, release = threading.Event(), threading.Event()

        def slow_collect() -> Iterable[Any]:
            inside.set()
            release.wait(5)
            return list(metrics.registry.collect())

        sampler = Sampler(slow_collect, Failures())
        ticking = threading.Thread(target=sampler.tick)
        ticking.start()
        assert inside.wait(5)
        threading.Timer(0.2, release.set).start()
        pid = os.fork()
        if pid == 0:  # the child: one sample, then out, whatever happens
            try:
                sampler.tick()
                os._exit(0 if len(sampler.samples) == 2 else 1)
            finally:
                os._exit(2)
        forked_after_the_collection = release.is_set()
        deadline = time.monotonic() + 10
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        if done[0] == 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        ticking.join(5)
        assert forked_after_the_collection
        assert done[0] == pid and os.waitstatus_to_exitcode(done[1]) == 0
