"""What the request line's destination costs: hookwatch with its JSON lines going to a file
on disk, a file in memory (tmpfs), a pipe read by another process (as a container's stdout
is), ``/dev/null`` and nowhere (the line built, its ``write`` skipped), side by side with the
bare app and the exporter in one in-process run.

The line is the same everywhere; only the ``write`` system call behind it differs, so the
rows tell how much of hookwatch's added time is the kernel's work for that destination,
and the last what hookwatch costs without the write call (and its lock and flush).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from typing import Any, Iterator

from prometheus_client import CollectorRegistry

from . import ablate, apps, inprocess

__all__ = ["NOWHERE", "filesystem_of", "run"]

NOWHERE = "hookwatch, no write (the line built, not written)"


def filesystem_of(path: str) -> str:
    """The type of the file system holding ``path`` (``ext4``, ``tmpfs``), from the mount
    table; ``"unknown"`` where there is none to read."""
    path = os.path.realpath(path)
    best, kind = "", "unknown"
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                _, mount_point, fs_type, *_ = line.split()
                inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best, kind = mount_point, fs_type
    except OSError:
        pass
    return kind


@contextlib.contextmanager
def _destinations(tmp: str) -> Iterator[tuple[dict[str, str], subprocess.Popen[str]]]:
    """Paths to log to, by label, and the process reading the pipe (it counts the request
    lines it reads, and prints the count once every writer has closed the pipe)."""
    paths = {f"file on {filesystem_of(tmp)}": os.path.join(tmp, "requests.log")}
    with contextlib.ExitStack() as stack:
        if os.path.isdir("/dev/shm") and filesystem_of("/dev/shm") != filesystem_of(tmp):
            shm = stack.enter_context(tempfile.TemporaryDirectory(dir="/dev/shm"))
            paths[f"file on {filesystem_of(shm)}"] = os.path.join(shm, "requests.log")
        # The pipe exists before anyone opens it to write (a named pipe would block that
        # open until its reader came); if the reader is gone, writes fail and are reported.
        reader = stack.enter_context(subprocess.Popen(
            ["grep", "-c", "-E", inprocess.REQUEST_LINE], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True))
        assert reader.stdin is not None
        paths["pipe to another process"] = f"/proc/self/fd/{reader.stdin.fileno()}"
        paths["/dev/null"] = os.devnull
        yield paths, reader


def run(calls: int, repeats: int) -> tuple[dict[str, Any], list[str]]:
    """Time bare, exporter and hookwatch per log destination and with no write; check every
    request was counted and (where the lines can be read back) logged, and that the copy
    with no write wrote no request line."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hookwatch-sinks-") as tmp, \
            _destinations(tmp) as (paths, reader):
        registries = {label: CollectorRegistry() for label in ("exporter", *paths, NOWHERE)}
        variants: dict[str, Any] = {}
        try:
            variants["bare"] = apps.bare()
            variants["exporter"] = apps.exporter(registries["exporter"])
            for label, path in paths.items():
                variants[f"hookwatch, {label}"] = apps.hookwatch(path, registries[label])
            unwritten = os.path.join(tmp, "unwritten.log")  # must hold no request line
            variants[NOWHERE] = apps.hookwatch(unwritten, registries[NOWHERE])
            ablate.PARTS[ablate.WRITE](variants[NOWHERE])
            cells, sent = inprocess.run(variants, calls, repeats)
        finally:
            apps.close_logs(*variants.values())
        piped, _ = reader.communicate(timeout=30)  # closes our end: the reader sees the end
        problems += inprocess.miscounted("exporter", "exporter", registries["exporter"], sent)
        problems += inprocess.miscounted("hookwatch", NOWHERE, registries[NOWHERE], sent)
        if inprocess.count_request_lines(unwritten):
            problems.append(f"{NOWHERE}: its request lines were written")
        for label, path in paths.items():
            name = f"hookwatch, {label}"
            problems += inprocess.miscounted("hookwatch", name, registries[label], sent)
            if path == os.devnull:
                continue
            if label.startswith("pipe"):
                logged = int(piped.strip() or 0)
            else:
                logged = inprocess.count_request_lines(path)
            problems += inprocess.unlogged(name, logged, sent)
    return inprocess.summarise(cells, sent), problems
