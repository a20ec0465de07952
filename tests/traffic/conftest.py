"""Fixtures for the traffic tests: a real threaded HTTP server on 127.0.0.1, and the command."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.serving import make_server

from app import create_app
from app.devserver import QuietRequestHandler

ROOT = Path(__file__).resolve().parents[2]


class LiveServer:
    """The app in development configuration behind werkzeug's threaded server."""

    def __init__(self, **overrides: Any) -> None:
        self.logs = io.StringIO()
        overrides.setdefault("LOG_FORMAT", "json")
        self.app = create_app("development", LOG_STREAM=self.logs, **overrides)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True,
                                  request_handler=QuietRequestHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def recorded(self) -> Counter[tuple[str, int]]:
        """Requests ``/metrics`` recorded, by (route, status), parsed with the real parser."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        counts: Counter[tuple[str, int]] = Counter()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "http_server_request_duration_seconds_count":
                    key = (sample.labels["http_route"],
                           int(sample.labels["http_response_status_code"]))
                    counts[key] += int(sample.value)
        return counts

    def logged_paths(self) -> list[str]:
        """The path of every request the server logged, in the order they finished."""
        lines = [json.loads(line) for line in self.logs.getvalue().splitlines()]
        return [line["path"] for line in lines
                if line.get("event") in {"request_finished", "request_failed"}]


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


def run_traffic(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``python manage.py traffic ARGS`` in a subprocess, as a user would run it."""
    return subprocess.run(
        [sys.executable, "manage.py", "traffic", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def traffic():
    return run_traffic
