"""gunicorn settings for the production-path benchmark (``benchmarks.production``), passed
with -c so the project's gunicorn.conf.py is never read by accident.

``BENCH_VARIANT`` picks each variant's documented multiprocess set-up; the worker class,
workers and threads come from the command line (``-k``, ``-w``, ``--threads``):

- ``bare``: no hooks, no metrics;
- ``exporter``: prometheus_flask_exporter's gunicorn set-up: ``mark_process_dead`` when a
  worker exits, the metrics served by the master on ``BENCH_METRICS_PORT``;
- ``hookwatch``: hookwatch's server hooks, imported as the project's gunicorn.conf.py does
  (slot-keyed metric files, warm workers).
"""

import os

keepalive = 5
accesslog = None
loglevel = "warning"
preload_app = False
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

VARIANT = os.environ.get("BENCH_VARIANT", "bare")

if VARIANT == "exporter":
    from prometheus_flask_exporter.multiprocess import GunicornPrometheusMetrics

    def when_ready(server):
        GunicornPrometheusMetrics.start_http_server_when_ready(
            int(os.environ["BENCH_METRICS_PORT"]), "127.0.0.1")

    def child_exit(server, worker):
        GunicornPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)

elif VARIANT == "hookwatch":
    from app.hookwatch.gunicorn import (  # noqa: F401 - gunicorn reads them by name
        child_exit, on_exit, on_starting, post_worker_init, pre_fork, worker_exit)
