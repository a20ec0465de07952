"""Gunicorn settings for hookwatch: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every worker is its own process, so metrics are shared through prometheus-client's
multiprocess files, in a directory kept bounded by hookwatch's server hooks
(:mod:`app.hookwatch.gunicorn`): ``PROMETHEUS_MULTIPROC_DIR`` if set (the container uses a
tmpfs), else a fresh temporary directory removed on exit.
"""

import os
import sys

from app.hookwatch import gunicorn as hookwatch_hooks
from app.hookwatch.gunicorn import (  # noqa: F401 - gunicorn reads them by name
    child_exit, on_exit, post_worker_init, pre_fork, worker_exit)

# Loopback unless told otherwise; the container sets 0.0.0.0:5000 to be reachable.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads keep a worker responsive while a /slow request sleeps.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Workers import the app themselves, after the fork: each creates its metrics in the files
# of the slot the master lent it.
preload_app = False
# The app writes one JSON line per request; a second access log line would only repeat it.
accesslog = None
errorlog = "-"
# Heartbeat files on a RAM disk: overlay file systems in containers can stall workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server):
    """Refuse settings the app would refuse, then set up the metrics directory."""
    from app.config import ConfigError, check_config, load_config

    # Checked here, in the master before any worker boots: in the workers the same refusal
    # is a traceback per worker, then "Worker failed to boot". The configuration name is the
    # one wsgi.py picks.
    try:
        check_config(load_config(os.environ.get("HOOKWATCH_CONFIG") or "production"))
    except ConfigError as error:
        server.log.error("%s", error)
        sys.exit(2)  # as manage.py does for a refused setting
    hookwatch_hooks.on_starting(server)
