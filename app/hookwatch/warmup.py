"""Run warm-up functions exactly once per process before the first request is dispatched.

This stands in for ``before_first_request``, which Flask 2.3 removed. Concurrent first
requests wait for one run; if that run fails they all get its error, and the next request
tries again. A server that forks workers can call :meth:`Warmup.ensure` before forking so
the children start warm.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable

__all__ = ["Warmup", "WarmupFunction"]

WarmupFunction = Callable[[], None]


def _ignore(*_: object) -> None:
    pass


class Warmup:
    """A list of functions to run once per process, and the state of that run."""

    def __init__(
        self,
        on_finished: Callable[[float], None] = _ignore,
        on_failed: Callable[[BaseException], None] = _ignore,
    ) -> None:
        """``on_finished(seconds)`` and ``on_failed(error)`` report each run's outcome."""
        self.functions: list[WarmupFunction] = []
        self.on_finished = on_finished
        self.on_failed = on_failed
        self.done = False
        self._lock = threading.Lock()
        self._failed_runs = 0
        self._last_error: BaseException | None = None

    def register(self, function: WarmupFunction) -> WarmupFunction:
        """Add ``function`` to the warm-up; usable as a decorator. Functions run in order."""
        self.functions.append(function)
        return function

    def ensure(self) -> BaseException | None:
        """Warm up if not done yet; return the exception of a failed run, else ``None``.

        Cheap once done: one attribute read.
        """
        if self.done:
            return None
        seen_failures = self._failed_runs
        with self._lock:
            if self.done:
                return None
            if self._failed_runs != seen_failures:
                # Another thread's run failed while we waited: share its outcome.
                return self._last_error
            return self._run()

    def _run(self) -> BaseException | None:
        """Run every warm-up function, then ``on_finished``; return the exception if one
        failed (an ``on_finished`` failure too: the warm-up is then retried)."""
        started = time.perf_counter()
        try:
            for function in self.functions:
                function()
            self.on_finished(time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001 - reported to the caller, never raised
            self._last_error = error
            self._failed_runs += 1  # only now, so threads that waited on this run see it
            with contextlib.suppress(Exception):  # a failing report must not hide the error
                self.on_failed(error)
            return error
        self._last_error = None
        self.done = True
        return None
