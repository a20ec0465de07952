"""Gunicorn settings for hookwatch, with prometheus-client multiprocess metrics done right.

Run: ``gunicorn -c gunicorn.conf.py wsgi:app``. Every gunicorn worker is its own process,
so metrics must be shared through files: prometheus-client decides how it stores values
(in memory or in mmapped files under ``PROMETHEUS_MULTIPROC_DIR``) once, when it is first
imported. That is why the variable is set here, at the top of the config file, which
gunicorn executes in the master before any worker imports the app.
"""

import os
import shutil
import sys
import tempfile

# Honour a directory given by the environment (the container uses a tmpfs); otherwise make
# a private one, and remember that in the environment too, since gunicorn re-reads this
# file on SIGHUP and must then keep the same directory.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hookwatch-metrics-")
    os.environ["HOOKWATCH_MULTIPROC_DIR_OWNED"] = "1"
_multiproc_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
os.makedirs(_multiproc_dir, exist_ok=True)

# Loopback unless told otherwise; the container sets 0.0.0.0:5000 to be reachable.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads keep a worker responsive while a /slow request sleeps.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Workers import the app themselves: a preloaded app would create metric files in the
# master, whose pid never exits and whose values would never be cleaned up.
preload_app = False
# The app writes one JSON line per request; a second access log line would only repeat it.
accesslog = None
errorlog = "-"
# Heartbeat files on a RAM disk: overlay file systems in containers can stall workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server):
    """Refuse settings the app would refuse, then start without an earlier run's metric files
    (they would be summed in)."""
    from app.config import ConfigError, check_config, load_config
    from app.hookwatch.multiproc import remove_metric_files

    # Checked here, in the master before any worker boots: in the workers the same refusal
    # is a traceback per worker, then "Worker failed to boot". The configuration name is the
    # one wsgi.py picks.
    try:
        check_config(load_config(os.environ.get("HOOKWATCH_CONFIG") or "production"))
    except ConfigError as error:
        server.log.error("%s", error)
        on_exit(server)  # gunicorn will not call it: the arbiter has not started
        sys.exit(2)  # as manage.py does for a refused setting
    remove_metric_files(_multiproc_dir)


def post_worker_init(worker):
    """Warm up before the worker takes a request: hookwatch_ready and /readyz are then true
    from the start, and the warm-up runs once per worker, not on a client's first request."""
    app = worker.wsgi
    with app.app_context():
        app.extensions["hookwatch"].warmup.ensure()


def child_exit(server, worker):
    """Drop a dead worker's live gauges (``livesum`` in-flight, ``livemin`` ready)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the directory if this config created it; a given one is the owner's."""
    if os.environ.get("HOOKWATCH_MULTIPROC_DIR_OWNED"):
        shutil.rmtree(_multiproc_dir, ignore_errors=True)
