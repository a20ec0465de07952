"""Shared fixtures: an app with a fresh registry and captured JSON logs, readers for both, and the
app behind a real server (:class:`tests.servers.LiveServer`)."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
from typing import Any, Iterator

import pytest
import structlog
from flask.testing import FlaskClient

from app import create_app
from flask import Flask
from tests.servers import LiveServer, Samples, parse_metrics


class LogCapture:
    """The JSON lines an app wrote, parsed."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def events(self, *names: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["event"] in names]

    @property
    def requests(self) -> list[dict[str, Any]]:
        """One entry per request: ``request_finished`` and ``request_failed`` lines."""
        return self.events("request_finished", "request_failed")

    @property
    def text(self) -> str:
        return self.stream.getvalue()


def scrape(client: FlaskClient, **headers: str) -> Samples:
    """Parse ``/metrics`` into ``{(sample name, sorted labels): value}``."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    return parse_metrics(response.get_data(as_text=True))


def sample(samples: Samples, name: str, **labels: Any) -> float | None:
    """Look one sample up by name and labels (values compared as strings)."""
    key = (name, tuple(sorted((k, str(v)) for k, v in labels.items())))
    return samples.get(key)


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch) -> Iterator[None]:
    """Undo what create_app does to global logging state, after each test; a ``LOG_FILE``
    set where the tests run is ignored."""
    monkeypatch.delenv("LOG_FILE", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def logs() -> LogCapture:
    return LogCapture()


@pytest.fixture
def make_app(logs: LogCapture):
    """Build a testing app whose JSON logs land in ``logs``; keyword arguments are overrides."""

    def factory(**overrides: Any) -> Flask:
        overrides.setdefault("LOG_STREAM", logs.stream)
        return create_app("testing", **overrides)

    return factory


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def live_server(logs: LogCapture) -> Iterator[LiveServer]:
    """The app in development configuration behind a real threaded server; JSON logs in ``logs``."""
    server = LiveServer(create_app("development", LOG_STREAM=logs.stream, LOG_FORMAT="json"))
    yield server.start()
    server.stop()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their settings explicitly; the caller's environment must not leak in."""
    for name in ("HOOKWATCH_CONFIG", "SECRET_KEY", "LOG_FORMAT", "LOG_LEVEL", "METRICS_TOKEN",
                 "SERVER_TIMING"):
        monkeypatch.delenv(name, raising=False)


def require_binary(name: str) -> str:
    """Return the path of a tool the test drives; in CI a missing tool fails, elsewhere skips."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it with apt-get)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return path
