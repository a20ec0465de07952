"""A real threaded Werkzeug server on a free 127.0.0.1 port, and readers for what it left behind.

The server (:class:`tests.servers.LiveServer`) runs the app the way production does
(``PROPAGATE_EXCEPTIONS`` off) with the dev server's quiet request handler, so every line in
``logs`` is one the app or the server wrote.
Metrics are read from the app's own exposition (the body ``/metrics`` would serve), parsed with
``prometheus_client.parser``: scraping over HTTP would add log lines of its own.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from flask import Flask
from tests.servers import LiveServer, Samples, parse_metrics

DURATION = "http_server_request_duration_seconds"


@dataclass
class Reply:
    """A parsed raw HTTP response."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    raw: bytes


def parse_reply(raw: bytes) -> Reply:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = None
    if lines and lines[0].startswith(b"HTTP/"):
        status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(status, headers, body, raw)


class RawServer(LiveServer):
    """A :class:`LiveServer` spoken to in raw HTTP; ``logs`` holds its JSON lines."""

    def __init__(self, app: Flask, logs: Any) -> None:
        # A short poll interval: every test stops its servers, and that should not take 0.5 s.
        super().__init__(app, poll_interval=0.02)
        self.logs = logs

    # raw HTTP ------------------------------------------------------------------------------
    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def raw(self, data: bytes, timeout: float = 5.0) -> Reply:
        """Send ``data`` as is on a new connection and read until the server closes it."""
        with self.connect(timeout) as sock:
            try:
                sock.sendall(data)
                # The dev server drains an unread body until EOF before it closes.
                sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered and closed before taking everything
            chunks = []
            try:
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            except ConnectionResetError:
                pass
        return parse_reply(b"".join(chunks))

    def get(self, target: str = "/healthz", method: str = "GET", **headers: str) -> Reply:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
        return self.raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    # what the server left behind -----------------------------------------------------------
    def lines(self) -> list[dict[str, Any]]:
        return self.logs.lines

    def wait_lines(self, count: int, timeout: float = 3.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` log lines exist, then a moment for strays; return all."""
        deadline = time.monotonic() + timeout
        while len(self.lines()) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.02)
        return self.lines()

    def samples(self) -> Samples:
        """The parsed exposition, read from the app: scraping over HTTP would log a line."""
        body, _ = self.app.extensions["hookwatch"].metrics.render(None)
        return parse_metrics(body.decode())

    def requests_counted(self, samples: dict | None = None) -> float:
        samples = self.samples() if samples is None else samples
        return sum(v for (name, _), v in samples.items() if name == DURATION + "_count")

    def active(self) -> float:
        return sum(
            v for (name, _), v in self.samples().items() if name == "http_server_active_requests"
        )


@dataclass
class Snapshot:
    lines: int
    counted: float
    series: frozenset


def snapshot(live: RawServer) -> Snapshot:
    samples = live.samples()
    return Snapshot(len(live.lines()), live.requests_counted(samples), frozenset(samples))


@pytest.fixture
def serve(make_app, logs) -> Iterator[Callable[..., RawServer]]:
    """Start a real server for an app built with the given overrides; stopped after the test."""
    started: list[RawServer] = []

    def start(**overrides: Any) -> RawServer:
        overrides.setdefault("PROPAGATE_EXCEPTIONS", False)
        live = RawServer(make_app(**overrides), logs).start()
        started.append(live)
        # Warm up now, so the first request of a test writes only its own line.
        assert live.get("/healthz").status == 200
        live.wait_lines(2)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def live(serve) -> RawServer:
    return serve()
