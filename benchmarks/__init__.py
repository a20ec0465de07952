"""Overhead and scrape benchmarks: hookwatch side by side with a bare Flask app.

``python -m benchmarks`` (or ``make bench``) runs them all; see docs/performance.md.
"""
