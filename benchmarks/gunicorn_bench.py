"""gunicorn settings for the loopback benchmark (passed with -c, so the project's
gunicorn.conf.py, made for production, is not read): one worker, keep-alive, loopback only."""

bind = "127.0.0.1:0"  # replaced on the command line by the benchmark
workers = 1
worker_class = "gthread"
threads = 1
keepalive = 5
accesslog = None
loglevel = "warning"
preload_app = False
