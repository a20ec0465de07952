"""gunicorn.conf.py: a refused configuration stops the master in one line, before any worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import ServerProcess, app_env, free_port, http_get, python


def gunicorn(port: int) -> list[str]:
    return [python(), "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}",
            "-w", "2", "wsgi:app"]


def refused_run(tmp_path: Path, **env: str) -> tuple[int | None, list[str]]:
    """Run gunicorn until it exits (at most 30 s); return its exit status and output lines."""
    # TMPDIR: the metrics directory gunicorn.conf.py makes lands where the test can look.
    environment = app_env(TMPDIR=str(tmp_path), **env)
    for name in ("SECRET_KEY", "HOOKWATCH_CONFIG"):
        if name not in env:
            environment.pop(name)
    with ServerProcess(gunicorn(free_port()), 0, tmp_path, environment, "gunicorn") as server:
        assert server.process is not None
        server.process.wait(timeout=30)
        status = server.process.returncode
    output = server.stdout_path.read_text() + server.stderr_path.read_text()
    return status, output.splitlines()


class TestRefusedConfiguration:
    def test_no_secret_key_is_one_line_and_no_worker(self, tmp_path: Path) -> None:
        """Production without SECRET_KEY: one line naming it, exit 2, no traceback, no worker
        booted, and the metrics directory it made is removed."""
        status, lines = refused_run(tmp_path)
        assert status == 2, lines
        [line] = [line for line in lines if "SECRET_KEY" in line]
        assert line.endswith(
            "[ERROR] production configuration needs SECRET_KEY set in the environment")
        assert not any("Traceback" in line or "Booting worker" in line for line in lines)
        assert not list(tmp_path.glob("hookwatch-metrics-*"))

    @pytest.mark.parametrize(
        ("env", "message"),
        [({"SECRET_KEY": "k", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be a logging level name"),
         ({"SECRET_KEY": "k", "HOOKWATCH_CONFIG": "nonsense"},
          "unknown configuration 'nonsense'")],
    )
    def test_other_refusals_too(self, tmp_path: Path, env: dict[str, str], message: str) -> None:
        """A bad LOG_LEVEL or an unknown configuration gets the same treatment."""
        status, lines = refused_run(tmp_path, **env)
        assert status == 2, lines
        assert message in lines[-1]
        assert not any("Traceback" in line for line in lines)


def test_a_good_configuration_still_serves(tmp_path: Path) -> None:
    """With SECRET_KEY the check passes and the workers serve."""
    port = free_port()
    with ServerProcess(gunicorn(port), port, tmp_path, app_env(), "gunicorn") as server:
        server.wait_ready()
        assert http_get(port, "/healthz")[0] == 200
