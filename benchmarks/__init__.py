"""Benchmarks: hookwatch side by side with bare Flask, prometheus_flask_exporter and the
exporter plus a structlog access line, through public APIs only.

``python -m benchmarks`` (or ``make bench``) runs them all; see docs/performance.md.
"""
