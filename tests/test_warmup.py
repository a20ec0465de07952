"""Warmup alone: once per process, shared outcome for waiters, retry after failure."""

from __future__ import annotations

import threading
import time

from app.hookwatch.warmup import Warmup


class CountingLock:
    """A lock that counts the threads that came to take it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.callers = 0

    def __enter__(self) -> None:
        with self._count_lock:
            self.callers += 1
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


class TestWarmup:
    def test_runs_functions_in_order_once(self) -> None:
        """Registered functions run in order, and only on the first ensure()."""
        calls: list[str] = []
        durations: list[float] = []
        warmup = Warmup(on_finished=durations.append)
        warmup.register(lambda: calls.append("a"))
        warmup.register(lambda: calls.append("b"))
        assert warmup.ensure() is None
        assert warmup.ensure() is None
        assert calls == ["a", "b"]
        assert warmup.done and len(durations) == 1 and durations[0] >= 0

    def test_failure_is_returned_reported_and_retried(self) -> None:
        """A failed run returns its error, calls on_failed, and the next ensure() retries."""
        outcomes: list[object] = []
        warmup = Warmup(on_finished=outcomes.append, on_failed=outcomes.append)
        attempts = []

        @warmup.register
        def flaky() -> None:
            attempts.append(1)
            if len(attempts) == 1:
                raise TimeoutError("first try")

        error = warmup.ensure()
        assert isinstance(error, TimeoutError) and not warmup.done
        assert warmup.ensure() is None and warmup.done
        assert isinstance(outcomes[0], TimeoutError)
        assert isinstance(outcomes[1], float)
        assert len(attempts) == 2

    def test_waiters_share_one_failed_run(self) -> None:
        """Threads that waited on a failing run get its error instead of running again."""
        warmup = Warmup()
        entered, release = threading.Event(), threading.Event()
        runs = []

        @warmup.register
        def blocked_then_fails() -> None:
            runs.append(1)
            entered.set()
            release.wait(5)
            raise RuntimeError("down")

        lock = warmup._lock = CountingLock()  # to know when the waiters are queued
        results: list[object] = []
        first = threading.Thread(target=lambda: results.append(warmup.ensure()))
        first.start()
        entered.wait(5)
        waiters = [threading.Thread(target=lambda: results.append(warmup.ensure())) for _ in range(4)]
        for thread in waiters:
            thread.start()
        deadline = time.monotonic() + 5
        while lock.callers < 5 and time.monotonic() < deadline:  # the first run, 4 waiters
            time.sleep(0.01)
        release.set()
        for thread in (first, *waiters):
            thread.join(5)
        assert len(runs) == 1
        assert len(results) == 5
        assert all(isinstance(result, RuntimeError) for result in results)

    def test_failing_report_counts_as_a_failed_run(self) -> None:
        """If on_finished fails (a metric cannot be set), the warm-up is not done and is
        retried; a failing on_failed does not hide the error either."""
        calls = []

        def finished(seconds: float) -> None:
            calls.append(seconds)
            if len(calls) == 1:
                raise OSError("gauge down")

        def failed(error: BaseException) -> None:
            raise RuntimeError("logger down too")

        warmup = Warmup(on_finished=finished, on_failed=failed)
        assert isinstance(warmup.ensure(), OSError)
        assert not warmup.done
        assert warmup.ensure() is None and warmup.done
        assert len(calls) == 2
