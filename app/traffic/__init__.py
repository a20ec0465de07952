"""The load generator behind ``python manage.py traffic``.

- :mod:`.plan`: which requests to send, as a seeded, repeatable sequence (pure).
- :mod:`.runner`: sends them at a rate with a few threads, and times each one.
- :mod:`.report`: counts and client-side latency percentiles, as a table or JSON.
- :mod:`.command`: the Flask-Script-NG command, target checks and the live progress bar.

Usable without Flask: ``Runner(base_url, Plan(seed=1), count=100).run()``.
"""

from __future__ import annotations

from .plan import DEFAULT_MIX, Plan, PlannedRequest, parse_mix
from .report import Summary
from .runner import Result, Runner, TargetError, check_target

__all__ = [
    "DEFAULT_MIX",
    "Plan",
    "PlannedRequest",
    "Result",
    "Runner",
    "Summary",
    "TargetError",
    "check_target",
    "parse_mix",
]
