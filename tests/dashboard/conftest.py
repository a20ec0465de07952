"""Fixtures for the dashboard tests: a real server on 127.0.0.1 and headless Chromium.

The browser is Debian's chromium driven by its chromedriver through Selenium, both given
by path so Selenium Manager never downloads anything. Without them the browser tests are
skipped on a developer machine and fail in CI (``CI=true``), where .ci/run installs them.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.serving import make_server

from app import create_app
from app.devserver import QuietRequestHandler

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("HOOKWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HOOKWATCH_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--force-device-scale-factor=1", "--window-size=1366,900",
)


class LiveServer:
    """The app in development configuration behind werkzeug's threaded server."""

    def __init__(self, **overrides: Any) -> None:
        overrides.setdefault("LOG_FORMAT", "json")
        self.app = create_app("development", LOG_STREAM=io.StringIO(), **overrides)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True,
                                  request_handler=QuietRequestHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def samples(self) -> dict[tuple[str, tuple], float]:
        """``/metrics`` as ``{(sample name, sorted labels): value}``, via the real parser."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where test artifacts go: ``$HOOKWATCH_ARTIFACTS`` or ``artifacts/`` (git-ignored)."""
    path = Path(os.environ.get("HOOKWATCH_ARTIFACTS", ROOT / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session, with a fresh profile."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        message = f"headless Chromium needs {' and '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="hookwatch-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (*CHROMIUM_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
