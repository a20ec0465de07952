"""Clients that go away or go silent: the threaded server keeps serving, and every request
that was dispatched is logged and counted once."""

from __future__ import annotations

import socket
import time

from .conftest import RawServer, snapshot


def wait_for(live: RawServer, lines: int, timeout: float = 3.0) -> list[dict]:
    return live.wait_lines(lines, timeout)


def test_disconnect_mid_request(live: RawServer) -> None:
    """Headers promise 100 body bytes, 10 arrive, the client closes: logged and counted once."""
    before = snapshot(live)
    with live.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"a" * 10)
    lines = wait_for(live, before.lines + 1)[before.lines:]
    assert [line["status"] for line in lines] == [200]
    assert live.requests_counted() == before.counted + 1
    assert live.get("/healthz").status == 200


def test_disconnect_mid_response(live: RawServer) -> None:
    """The client leaves while the view runs: the request is logged, the server serves on."""
    before = snapshot(live)
    with live.connect() as sock:
        sock.sendall(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    started = time.monotonic()
    assert live.get("/healthz").status == 200  # not blocked behind the slow one
    assert time.monotonic() - started < 1.0  # well under the slow view's 1.5 s
    lines = wait_for(live, before.lines + 2)[before.lines:]
    assert sorted(line["path"] for line in lines) == ["/healthz", "/slow"]
    slow = next(line for line in lines if line["path"] == "/slow")
    assert slow["status"] == 200 and slow["event"] == "request_finished"
    assert live.requests_counted() == before.counted + 2
    assert live.active() == 0


def test_slowloris_does_not_block(live: RawServer) -> None:
    """Ten partial requests that go silent: others are served at once; nothing is logged for
    them until they end; a partial request ended by EOF is dispatched and logged once."""
    before = snapshot(live)
    silent = [live.connect() for _ in range(10)]
    try:
        for sock in silent:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        for _ in range(5):
            started = time.monotonic()
            assert live.get("/healthz").status == 200
            # At once: blocked behind the silent requests, it would not be answered at all.
            assert time.monotonic() - started < 2.0
        lines = wait_for(live, before.lines + 5)[before.lines:]
        assert len(lines) == 5
    finally:
        for sock in silent:
            sock.close()
    # EOF ends the headers: http.server dispatches what it got; the answer goes nowhere.
    lines = wait_for(live, before.lines + 15)[before.lines:]
    assert len(lines) == 15 and {line["status"] for line in lines} == {200}
    assert live.requests_counted() == before.counted + 15
    assert live.get("/healthz").status == 200
    assert live.active() == 0
