"""Multiprocess metrics in a directory that stays bounded, for ``runserver --processes N``
and for gunicorn (:mod:`.gunicorn`).

prometheus-client's multiprocess mode names each process's files after ``os.getpid()``.
Werkzeug's forking server starts a new child for every request, and gunicorn replaces
workers (``--max-requests``, timeouts, restarts): pid-named files would pile up, one set
per process that ever ran, and every scrape would read them all.

Instead, the serving process (the dev server, or gunicorn's master) owns a pool of
*slots*. Before each fork it lends a free slot to the child; the child's values live in
files named after the slot (``counter_slot2.db``), not its pid. A slot goes back to the pool only once its child has been reaped, so two live
processes never write the same file. The next child in that slot opens the same files and
keeps adding to the totals already there, which is exactly what counters and histograms
need. The slot's ``live*`` gauge files (in-flight requests, readiness) belong to the one
child that held it, so they are deleted when it is reaped, like ``mark_process_dead``
does for a pid. The serving process itself writes to the ``server`` files. The directory
therefore holds at most ``(N + 1)`` file sets whatever the traffic, each file growing only
with new label sets, which the metrics keep bounded.

prometheus-client reads ``PROMETHEUS_MULTIPROC_DIR`` when it is imported, and
``manage.py`` imports the app (and thus prometheus-client) before it parses its arguments.
So :func:`setup_from_argv` runs first thing in ``manage.py``'s ``__main__`` block: if the
command line asks for ``runserver --processes N`` with ``N > 1``, it sets the variable and
installs the slot-keyed value class in ``prometheus_client.values.ValueClass``, the seam
that prometheus-client keeps for this ("retain this import style for testability").
Every metric is created after that, when the app factory runs.
"""

from __future__ import annotations

import argparse
import atexit
import glob
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Sequence

from prometheus_client import multiprocess, values

__all__ = [
    "MultiprocessSetup",
    "ProcessSlots",
    "current",
    "enable",
    "metric_files",
    "remove_metric_files",
    "requested_processes",
    "setup_from_argv",
]

ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
SERVER_IDENTITY = "server"


class ProcessSlots:
    """A pool of reusable process identities, and the ``process_identifier`` for them.

    Calling the pool returns the identity of the calling process: ``server`` in the process
    that built it, the slot lent just before the fork in a child (``slot0`` … ``slotN-1``),
    and ``pid<pid>`` in any process forked without a slot. prometheus-client calls it on
    every update to notice a fork, so it costs one ``os.getpid()``.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a slot pool needs at least one slot")
        self.size = size
        self._free = [f"slot{number}" for number in reversed(range(size))]
        self._by_pid: dict[int, str] = {}
        self._pid = os.getpid()
        self._identity = SERVER_IDENTITY
        self._pending: str | None = None

    def __call__(self) -> str:
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            self._identity = self._pending or f"pid{pid}"
            self._pending = None
        return self._identity

    @property
    def free(self) -> int:
        """How many slots are not lent to a live child."""
        return len(self._free)

    def lend(self) -> str:
        """Take a free slot for the child about to be forked; raise ``LookupError`` if none."""
        if not self._free:
            raise LookupError("every process slot is in use")
        self._pending = self._free.pop()
        return self._pending

    def grow(self) -> None:
        """Add one slot to the pool (gunicorn can be told to run more workers)."""
        self._free.append(f"slot{self.size}")
        self.size += 1

    def give_back(self, slot: str) -> None:
        """Return ``slot`` to the pool: the child it was lent to has been reaped."""
        self._free.append(slot)

    def bind(self, pid: int | None) -> None:
        """Record the pid that got the slot just lent, or take it back if the fork failed."""
        slot, self._pending = self._pending, None
        if slot is None:
            return
        if pid is None:
            self._free.append(slot)
        else:
            self._by_pid[pid] = slot

    def release(self, pid: int) -> str | None:
        """Return the slot of a reaped child to the pool; returns that slot, if it had one."""
        slot = self._by_pid.pop(pid, None)
        if slot is not None:
            self.give_back(slot)
        return slot


@dataclass
class MultiprocessSetup:
    """The directory and slot pool that ``runserver --processes`` uses."""

    directory: str
    owned: bool
    slots: ProcessSlots
    value_class: type
    owner_pid: int = field(default_factory=os.getpid)

    def forget_live_gauges(self, identity: str) -> None:
        """Delete the ``live*`` gauge files of a process that is gone: prometheus-client's
        ``mark_process_dead``, given the slot's identity where it names files by pid."""
        multiprocess.mark_process_dead(identity, self.directory)

    def files(self) -> list[str]:
        """The metric files in the directory, sorted by name."""
        return metric_files(self.directory)

    def cleanup(self) -> None:
        """Remove the directory if this setup created it; only in the process that did."""
        if self.owned and os.getpid() == self.owner_pid:
            shutil.rmtree(self.directory, ignore_errors=True)


def metric_files(directory: str) -> list[str]:
    """prometheus-client's ``*.db`` files in ``directory``, sorted by name."""
    return sorted(glob.glob(os.path.join(directory, "*.db")))


def remove_metric_files(directory: str) -> None:
    """Delete an earlier run's metric and exemplar files, which would be merged in; nothing
    else (the directory may be the user's)."""
    for path in [*metric_files(directory), *glob.glob(os.path.join(directory, "exemplars_*"))]:
        os.remove(path)


_current: MultiprocessSetup | None = None


def current() -> MultiprocessSetup | None:
    """The setup made by :func:`enable` in this process (or the one it forked from), if any."""
    return _current


def directory() -> str:
    """The multiprocess directory, as prometheus-client reads it."""
    return os.environ[ENV_DIR]


def identity() -> Callable[[], str]:
    """What names this process's files: its slot (or ``server``) under :func:`enable`, else
    its pid, as prometheus-client names them."""
    setup = _current
    if setup is not None:
        return setup.slots
    return lambda: str(os.getpid())


def enable(processes: int) -> MultiprocessSetup:
    """Switch prometheus-client to slot-keyed multiprocess files; call before any metric exists.

    Uses ``PROMETHEUS_MULTIPROC_DIR`` if set (its ``*.db`` files are deleted first: they would
    be summed in), else a fresh temporary directory that is removed when the process exits.
    """
    global _current
    given = os.environ.get(ENV_DIR)
    directory = given or tempfile.mkdtemp(prefix="hookwatch-metrics-")
    os.makedirs(directory, exist_ok=True)
    remove_metric_files(directory)
    os.environ[ENV_DIR] = directory
    slots = ProcessSlots(processes)
    value_class = values.MultiProcessValue(process_identifier=slots)
    values.ValueClass = value_class
    setup = MultiprocessSetup(directory, not given, slots, value_class)
    atexit.register(setup.cleanup)
    _current = setup
    return setup


class _Unparsable(Exception):
    pass


class _QuietParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Unparsable(message)


def requested_processes(argv: Sequence[str]) -> int:
    """The ``--processes`` value of a ``runserver`` command line (1 if absent or unparsable).

    Unparsable lines are left for the real parser to reject with its own message.
    """
    argv = list(argv)
    if "runserver" not in argv:
        return 1
    parser = _QuietParser(add_help=False)
    parser.add_argument("--processes", type=int, default=1)
    # The real parser's other long options that share a prefix, so abbreviations agree.
    parser.add_argument("--port")
    parser.add_argument("--passthrough-errors", action="store_true")
    try:
        namespace, _ = parser.parse_known_args(argv[argv.index("runserver") + 1 :])
    except _Unparsable:
        return 1
    return namespace.processes


def setup_from_argv(argv: Sequence[str]) -> MultiprocessSetup | None:
    """Enable slot-keyed multiprocess metrics if ``argv`` runs ``runserver --processes N > 1``."""
    processes = requested_processes(argv)
    if processes <= 1:
        return None
    return enable(processes)
