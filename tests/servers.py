"""Start real servers on free loopback ports, drive them with concurrent clients, read them back.

Generally useful for integration tests (``from tests.servers import ...``; the tests run with
``python -m pytest`` from the repository root):

- :class:`ServerProcess`: a command run in its own process group, stdout (the JSON log) and
  stderr captured to files, stopped with its whole group however the test ends;
- :class:`LiveServer`: an app object behind Werkzeug's threaded server in a background thread
  of the test process, so a test can still reach into the app and its log stream;
- :func:`run_load`: a fixed list of requests sent by N client threads, one connection each;
- :func:`parse_metrics` / :func:`scrape` / :func:`request_counts`: ``/metrics`` parsed with
  ``prometheus_client.parser``;
- :func:`log_events`: the JSON log lines a server wrote.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.serving import make_server

from app.devserver import QuietRequestHandler

__all__ = [
    "REPO",
    "LiveServer",
    "LoadResult",
    "Samples",
    "ServerProcess",
    "app_env",
    "child_pids",
    "free_port",
    "http_get",
    "log_events",
    "parse_metrics",
    "python",
    "request_counts",
    "run_load",
    "sample_sum",
    "scrape",
    "wait_for",
]

REPO = Path(__file__).resolve().parent.parent
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(**extra: str) -> dict[str, str]:
    """The environment for a production-like app: JSON logs to stdout, a secret, no inherited
    metrics dir or log file."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PROMETHEUS_MULTIPROC_DIR", "LOG_FILE"}}
    env.update(HOOKWATCH_CONFIG="production", SECRET_KEY="test-only-secret", LOG_LEVEL="INFO",
               PYTHONUNBUFFERED="1")
    env.pop("METRICS_TOKEN", None)
    env.update(extra)
    return env


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Call ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as error:  # noqa: BLE001 - retried until the deadline
            last_error, result = error, None
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error!r})")


def http_get(port: int, path: str, headers: dict[str, str] | None = None,
             timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """One GET on a fresh connection (``Connection: close``); returns status, headers, body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


class ServerProcess:
    """A server command in its own process group; a context manager that always stops it."""

    def __init__(self, args: Sequence[str], port: int, workdir: Path,
                 env: dict[str, str] | None = None, name: str = "server") -> None:
        self.args = list(args)
        self.port = port
        self.env = env if env is not None else app_env()
        self.stdout_path = workdir / f"{name}.stdout.log"
        self.stderr_path = workdir / f"{name}.stderr.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        # O_APPEND: lines written by several processes land whole, one after the other.
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.process = subprocess.Popen(
                self.args, cwd=REPO, env=self.env, stdout=out, stderr=err,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def wait_ready(self, path: str = "/readyz", timeout: float = 30) -> None:
        """Wait until ``path`` answers 200; fail early, with stderr, if the server died."""

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            return http_get(self.port, path, timeout=2)[0] == 200

        try:
            wait_for(ready, timeout, f"{self.args} to answer {path}", interval=0.1)
        except (AssertionError, RuntimeError) as error:
            raise AssertionError(f"{error}\n--- stderr ---\n{self.stderr_tail()}") from None

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM the whole group, SIGKILL what is left after ``timeout``; returns the exit code."""
        if self.process is None:
            return None
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        self.process.wait()
        # The leader is gone; make sure no straggler of its group outlives the test.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.process.returncode

    def stderr_tail(self, lines: int = 40) -> str:
        if not self.stderr_path.exists():
            return ""
        return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])


class LiveServer:
    """``app`` behind Werkzeug's threaded server on a free 127.0.0.1 port, in a daemon thread.

    The dev server's quiet handler drops Werkzeug's access lines, so the app's log stream holds
    only what the app wrote. Call :meth:`start`, and :meth:`stop` when done.
    """

    def __init__(self, app: Flask, poll_interval: float = 0.5) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True,
                                  request_handler=QuietRequestHandler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        # poll_interval bounds how long stop() waits for serve_forever to notice.
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": poll_interval}, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def samples(self) -> Samples:
        """``/metrics`` scraped over HTTP, as a client would see it."""
        return scrape(self.port, timeout=5)


def log_events(path: Path, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
    """The JSON log lines of ``path`` between byte offsets ``start`` and ``end``.

    Lines that are not JSON objects (Flask's start-up banner) are skipped.
    """
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read() if end is None else handle.read(end - start)
    events = []
    for raw in data.decode().splitlines():
        if raw.startswith("{"):
            events.append(json.loads(raw))
    return events


def parse_metrics(text: str) -> Samples:
    """An exposition parsed into ``{(sample name, sorted label pairs): value}``.

    Always ``prometheus_client.parser``: a hand-rolled parser could accept a malformed body.
    """
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(port: int, headers: dict[str, str] | None = None, timeout: float = 10) -> Samples:
    """``/metrics`` of the server on ``port``, parsed with :func:`parse_metrics`."""
    status, _, body = http_get(port, "/metrics", headers, timeout=timeout)
    assert status == 200, body[:500]
    return parse_metrics(body.decode())


def sample_sum(samples: Samples, name: str, **labels: str) -> float:
    """Sum of every sample called ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (sample_name, pairs), value in samples.items()
               if sample_name == name and wanted <= set(pairs))


def request_counts(samples: Samples) -> Counter[tuple[str, str, str]]:
    """``http_server_request_duration_seconds_count`` by (method, route, status)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for (name, pairs), value in samples.items():
        if name == "http_server_request_duration_seconds_count":
            labels = dict(pairs)
            key = (labels["http_request_method"], labels["http_route"],
                   labels["http_response_status_code"])
            counts[key] = int(value)
    return counts


@dataclass
class LoadResult:
    """What the clients saw: per path the statuses, the response ids, failures, wall time."""

    sent: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    request_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_load(port: int, paths: Iterable[str], clients: int = 16, timeout: float = 30) -> LoadResult:
    """Send every path in ``paths`` once, from ``clients`` threads, one connection per request."""
    queue = list(paths)
    queue.reverse()
    lock = threading.Lock()
    result = LoadResult()

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                path = queue.pop()
                result.sent += 1
            try:
                status, headers, _ = http_get(port, path, timeout=timeout)
            except Exception as error:  # noqa: BLE001 - every failure is reported by the test
                with lock:
                    result.errors.append(f"{path}: {error!r}")
                continue
            with lock:
                result.statuses[(path, status)] += 1
                result.request_ids.append(headers.get("x-request-id", ""))

    threads = [threading.Thread(target=client, name=f"load-client-{n}") for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def child_pids(pid: int, zombies: bool = False) -> list[int]:
    """The children of ``pid`` (not yet reaped ones too if ``zombies``), from ``/proc`` (Linux)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:
            continue
        # Field 4 is the parent pid; field 2 (the name) may contain spaces, so split after it.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and (zombies or fields[0] != "Z"):
            children.append(int(entry))
    return children


def python() -> str:
    """The interpreter running the tests (the project venv's)."""
    return sys.executable
