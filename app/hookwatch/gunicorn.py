"""gunicorn server hooks: multiprocess metrics in a bounded directory, and warm workers.

Every gunicorn worker is its own process, so metrics are shared through
prometheus-client's multiprocess files, which it names after each process's pid: with
workers replaced (``--max-requests``, timeouts, restarts) every new worker would add a file
set that every scrape reads, forever. These hooks give workers reusable slots instead, as
``runserver --processes`` does (:mod:`.multiproc`): the master lends each new worker a free
slot before forking it and takes it back once the worker is reaped; a worker's files are
named after its slot, so a replacement adds to its predecessor's totals and the directory
holds one file set per worker slot, whatever the recycling.

Use them from your gunicorn config file, with the app not preloaded (each worker creates
its metrics after the fork)::

    from app.hookwatch.gunicorn import (  # noqa: F401 - gunicorn reads them by name
        child_exit, on_exit, on_starting, post_worker_init, pre_fork, worker_exit)

``PROMETHEUS_MULTIPROC_DIR``, if set, is the directory (its old ``*.db`` files are removed
at start); otherwise a fresh temporary one is made and removed on exit.
"""

from __future__ import annotations

from typing import Any

from . import multiproc

__all__ = ["child_exit", "on_exit", "on_starting", "post_worker_init", "pre_fork",
           "worker_exit"]

_setup: multiproc.MultiprocessSetup | None = None


def on_starting(server: Any) -> None:
    """In the master, before any worker: slot-keyed multiprocess files, one slot per worker."""
    global _setup
    _setup = multiproc.enable(server.cfg.workers)


def pre_fork(server: Any, worker: Any) -> None:
    """Lend the worker about to be forked a free slot (a new one if gunicorn was told to run
    more workers than it started with)."""
    slots = _setup_made().slots
    if not slots.free:
        slots.grow()
    worker.hookwatch_slot = slots.lend()


def child_exit(server: Any, worker: Any) -> None:
    """The worker was reaped: take its slot back and drop its live gauges (in flight, ready)."""
    setup = _setup_made()
    slot = getattr(worker, "hookwatch_slot", None)
    if slot is not None:
        setup.forget_live_gauges(slot)
        setup.slots.give_back(slot)


def post_worker_init(worker: Any) -> None:
    """Warm up before the worker takes a request: ``/readyz`` and ``hookwatch_ready`` are true
    from its first request, and no client waits for the warm-up."""
    app = worker.wsgi
    with app.app_context():
        app.extensions["hookwatch"].warmup.ensure()


def worker_exit(server: Any, worker: Any) -> None:
    """In a worker that ends gracefully (recycled, stopped): write its last exemplars. (A
    worker whose app failed to load has none.)"""
    lifecycle = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("hookwatch")
    if lifecycle is not None and lifecycle.metrics.exemplar_store is not None:
        lifecycle.metrics.exemplar_store.flush()


def on_exit(server: Any) -> None:
    """Remove the metrics directory if ``on_starting`` made it."""
    if _setup is not None:
        _setup.cleanup()


def _setup_made() -> multiproc.MultiprocessSetup:
    if _setup is None:
        raise RuntimeError("hookwatch's gunicorn hooks need its on_starting hook too")
    return _setup
