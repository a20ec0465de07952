"""Fixtures for the traffic tests: the command (the real server is ``live_server`` from
tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_traffic(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``python manage.py traffic ARGS`` in a subprocess, as a user would run it."""
    return subprocess.run(
        [sys.executable, "manage.py", "traffic", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def traffic():
    return run_traffic
