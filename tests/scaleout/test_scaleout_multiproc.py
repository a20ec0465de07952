"""The slot pool behind ``runserver --processes`` (app/hookwatch/multiproc.py) and its guards."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from flask_script_ng.commands import InvalidCommand

from app.devserver import DevServer
from app.hookwatch.multiproc import ProcessSlots, requested_processes
from tests.servers import REPO, ServerProcess, app_env, free_port, http_get, python


class TestRequestedProcesses:
    @pytest.mark.parametrize(("argv", "expected"), [
        (["runserver", "--processes", "4"], 4),
        (["runserver", "--processes=3", "-p", "5001"], 3),
        (["-c", "production", "runserver", "-h", "127.0.0.1", "--processes", "2"], 2),
        (["runserver", "--proc", "5"], 5),
        (["runserver", "--threaded"], 1),
        (["runserver"], 1),
        (["shell"], 1),
        (["routes", "--processes", "4"], 1),
        (["runserver", "--processes", "many"], 1),
        (["runserver", "--p", "4"], 1),
    ])
    def test_reads_runserver_processes(self, argv: list[str], expected: int) -> None:
        """Only runserver's --processes counts; anything unparsable is left to the real parser."""
        assert requested_processes(argv) == expected


class TestProcessSlots:
    def test_the_creating_process_is_the_server(self) -> None:
        """The process that builds the pool writes to the ``server`` files."""
        assert ProcessSlots(2)() == "server"

    def test_slots_are_lent_bound_and_released(self) -> None:
        """A slot lent before a fork belongs to the child's pid until that pid is reaped."""
        slots = ProcessSlots(2)
        first = slots.lend()
        slots.bind(101)
        second = slots.lend()
        slots.bind(102)
        assert {first, second} == {"slot0", "slot1"} and slots.free == 0
        with pytest.raises(LookupError):
            slots.lend()
        assert slots.release(101) == first and slots.free == 1
        assert slots.release(101) is None
        assert slots.lend() == first

    def test_a_failed_fork_gives_the_slot_back(self) -> None:
        slots = ProcessSlots(1)
        slots.lend()
        slots.bind(None)
        assert slots.free == 1


FORKING_SCRIPT = textwrap.dedent("""
    import os, sys
    from app.hookwatch import multiproc
    setup = multiproc.enable(2)
    from prometheus_client import CollectorRegistry, Counter, Gauge
    from prometheus_client.multiprocess import MultiProcessCollector
    registry = CollectorRegistry()
    requests = Counter("requests", "Requests.", registry=registry)
    in_flight = Gauge("in_flight", "In flight.", multiprocess_mode="livesum", registry=registry)
    in_flight.set(0)
    for round in range(6):
        setup.slots.lend()
        pid = os.fork()
        if pid == 0:
            requests.inc()
            in_flight.inc()
            os._exit(0)
        setup.slots.bind(pid)
        os.waitpid(pid, 0)
        setup.forget_live_gauges(setup.slots.release(pid))
    totals = {s.name: s.value for m in MultiProcessCollector(None).collect() for s in m.samples}
    print(totals["requests_total"], totals["in_flight"], " ".join(
        os.path.basename(f) for f in setup.files()))
""")


def test_forked_children_share_one_slot_file_set(tmp_path: Path) -> None:
    """Six forks through a two-slot pool: the counts add up, a dead child's in-flight gauge is
    forgotten, and the directory holds the server's files plus one set per slot used."""
    env = app_env(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    (tmp_path / "counter_12345.db").write_bytes(b"stale")
    out = subprocess.run([python(), "-c", FORKING_SCRIPT], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout.split()
    assert out[:2] == ["6.0", "0.0"]
    assert out[2:] == ["counter_server.db", "counter_slot0.db", "gauge_livesum_server.db"]


def test_runserver_keeps_a_given_directory(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR given, runserver --processes empties it of stale files
    at start and leaves the directory in place at exit."""
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_99999.db").write_bytes(b"stale")
    port = free_port()
    command = [python(), "manage.py", "runserver", "--processes", "2", "-h", "127.0.0.1",
               "-p", str(port)]
    with ServerProcess(command, port, tmp_path,
                       app_env(PROMETHEUS_MULTIPROC_DIR=str(given))) as server:
        server.wait_ready()
        assert http_get(port, "/")[0] == 200
        assert not (given / "counter_99999.db").exists()
        assert server.stop() == 0
    assert given.is_dir()


class TestDevServerGuards:
    def run(self, app, **options) -> None:
        arguments = dict(host="127.0.0.1", port=free_port(), use_debugger=False,
                         use_reloader=False, threaded=False, processes=4,
                         passthrough_errors=False, ssl_crt=None, ssl_key=None)
        arguments.update(options)
        DevServer()(app, **arguments)

    def test_processes_need_the_early_setup(self, app) -> None:
        """An app created before multiprocess metrics were set up would count per child."""
        with pytest.raises(InvalidCommand, match="before the app is created"):
            self.run(app)

    def test_processes_refuse_threads_debugger_and_reloader(self, app) -> None:
        with pytest.raises(InvalidCommand, match="not both"):
            self.run(app, threaded=True)
        with pytest.raises(InvalidCommand, match="debugger"):
            self.run(app, use_debugger=True)
        with pytest.raises(InvalidCommand, match="reloader"):
            self.run(app, use_reloader=True)
