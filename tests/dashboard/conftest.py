"""Fixtures for the dashboard tests: headless Chromium (the real server is ``live_server``
from tests/conftest.py).

The browser is Debian's chromium driven by its chromedriver through Selenium, both given
by path so Selenium Manager never downloads anything. Without them the browser tests are
skipped on a developer machine and fail in CI (``CI=true``), where .ci/run installs them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--force-device-scale-factor=1", "--window-size=1366,900",
)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where test artifacts go: ``$HOOKWATCH_ARTIFACTS`` or ``artifacts/`` (git-ignored)."""
    path = Path(os.environ.get("HOOKWATCH_ARTIFACTS", ROOT / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session, with a fresh profile."""
    chromium, chromedriver = require_binary("chromium"), require_binary("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="hookwatch-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (*CHROMIUM_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser) -> Any:
    """The session's browser on a blank page, its console log drained: a page an earlier test
    left open would go on polling that test's stopped server."""
    browser.get("about:blank")
    browser.get_log("browser")
    return browser
