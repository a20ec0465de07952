"""Send a plan's requests to a running app: at a rate, with a few threads, timing each one.

Every request goes on its own connection and redirects are not followed, so each planned
request is exactly one request on the server (``/redirect`` is recorded as its 302).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import urlsplit

from ..access import is_loopback
from .plan import Plan, PlannedRequest

__all__ = ["Result", "Runner", "TargetError", "Target", "check_target"]

USER_AGENT = "hookwatch-traffic/1"


class TargetError(Exception):
    """The target is refused (exit status 2) or cannot be reached (1); the message says
    what to do."""

    def __init__(self, message: str, exit_status: int = 2) -> None:
        super().__init__(message)
        self.exit_status = exit_status


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    prefix: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.prefix}"


@dataclass(frozen=True)
class Result:
    """One sent request: what was planned, the status (``None`` on failure), the seconds."""

    index: int
    planned: PlannedRequest
    status: int | None
    seconds: float
    error: str | None = None


def parse_target(base_url: str) -> Target:
    """Split ``http://host:port/prefix``; raise :class:`TargetError` if it is not usable."""
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise TargetError(f"the base URL must look like http://127.0.0.1:5000, got {base_url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise TargetError(f"bad port in {base_url!r}: {error}") from None
    return Target(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))


def check_target(base_url: str, allow_remote: bool = False, timeout: float = 3.0) -> Target:
    """Refuse a non-loopback host unless ``allow_remote``, then check that it accepts a TCP
    connection (no HTTP request, so nothing is counted by the server)."""
    target = parse_target(base_url)
    if not allow_remote and not is_loopback(target.host):
        raise TargetError(
            f"refusing to send traffic to {target.host!r}: it is not a loopback address. "
            "Pass --allow-remote to load another machine on purpose."
        )
    try:
        socket.create_connection((target.host, target.port), timeout=timeout).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise TargetError(
            f"cannot reach {target.url} ({reason}). Is the app running? "
            "Start it with `make run` in another terminal.",
            exit_status=1,
        ) from None
    return target


class Runner:
    """Sends ``plan`` to ``target`` until ``count`` requests, ``duration`` seconds, or
    :meth:`stop`; whichever comes first. ``rate`` is requests per second over all threads
    (``None``: as fast as ``concurrency`` threads go). ``on_result`` is called from the
    worker threads with each :class:`Result`."""

    def __init__(
        self,
        target: Target,
        plan: Plan,
        *,
        count: int | None = None,
        duration: float | None = None,
        rate: float | None = None,
        concurrency: int = 4,
        timeout: float = 10.0,
        on_result: Callable[[Result], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if count is None and duration is None:
            raise ValueError("give a request count, a duration, or both")
        self.target = target
        self.plan = plan
        self.count = count
        self.duration = duration
        self.rate = rate or None
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.on_result = on_result or (lambda result: None)
        self.clock = clock
        self._claimed = 0
        self.down = False  # set when the target stopped accepting connections mid-run
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sequence: Iterator[PlannedRequest] = iter(plan)
        self._failures_in_a_row = 0
        self._started = 0.0
        # Workers count themselves out here. Waiting on an Event, not Thread.join: on
        # Python 3.11 a join interrupted by Ctrl-C marks a still running thread as finished,
        # and the summary would then miss the requests still in flight.
        self._working = 0
        self._all_done = threading.Event()

    # -- control ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker threads and return; see :meth:`wait` and :meth:`stop`."""
        self._started = self.clock()
        self._working = self.concurrency
        for n in range(self.concurrency):
            threading.Thread(target=self._work, name=f"traffic-{n}", daemon=True).start()

    def stop(self) -> None:
        """Ask the threads to stop after their current request."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every thread to finish its last request; True when all have."""
        return self._all_done.wait(timeout)

    @property
    def elapsed(self) -> float:
        return self.clock() - self._started if self._started else 0.0

    def run(self) -> None:
        """Start, and wait until the run is over."""
        self.start()
        self.wait()

    # -- work ---------------------------------------------------------------------------
    def _next(self) -> tuple[int, PlannedRequest, float] | None:
        """Claim the next request: its index, what to send, and when (monotonic time)."""
        with self._lock:
            if self._stop.is_set() or (self.count is not None and self._claimed >= self.count):
                return None
            due = self._started + self._claimed / self.rate if self.rate else self.clock()
            if self.duration is not None and due - self._started >= self.duration:
                return None
            index = self._claimed
            self._claimed += 1
            return index, next(self._sequence), due

    def _work(self) -> None:
        try:
            while (claimed := self._next()) is not None:
                index, planned, due = claimed
                delay = due - self.clock()
                if delay > 0 and self._stop.wait(delay):
                    return  # stopped while waiting: this one is never sent
                result = self._send(index, planned)
                self._track_failures(result)
                self.on_result(result)
        finally:
            with self._lock:
                self._working -= 1
                if self._working == 0:
                    self._all_done.set()

    def _send(self, index: int, planned: PlannedRequest) -> Result:
        target = self.target
        connection_class = (
            http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(target.host, target.port, timeout=self.timeout)
        started = time.perf_counter()
        try:
            connection.request("GET", target.prefix + planned.path, headers={
                "User-Agent": USER_AGENT, "Accept": "text/html", "Connection": "close",
            })
            response = connection.getresponse()
            response.read()
            return Result(index, planned, response.status, time.perf_counter() - started)
        except (OSError, http.client.HTTPException) as error:
            return Result(index, planned, None, time.perf_counter() - started,
                          type(error).__name__)
        finally:
            connection.close()

    def _track_failures(self, result: Result) -> None:
        """Stop the run once the target has refused many connections in a row."""
        if result.error is None:
            self._failures_in_a_row = 0
            return
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= max(5, 2 * self.concurrency):
            self.down = True
            self._stop.set()
