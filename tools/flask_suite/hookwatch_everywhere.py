"""pytest plugin: every ``flask.Flask`` built during the session gets ``Hookwatch(app)``.

Load with ``-p hookwatch_everywhere`` (this file's directory on ``PYTHONPATH``; the
hookwatch project root is ``HOOKWATCH_PROJECT``, default two levels up). It wraps
``flask.Flask.__init__`` so that ``Hookwatch(app)`` runs right after construction (a fresh ``CollectorRegistry`` per app, hookwatch's default), as the
README tells users to do. Logging is left alone: Hookwatch itself never configures it.

Environment:
  HOOKWATCH_PROJECT                       the directory holding hookwatch's ``app`` package
  HOOKWATCH_EVERYWHERE=0                  load the plugin but instrument nothing
  HOOKWATCH_EVERYWHERE_METRICS_PATH=none  ``Hookwatch(app, metrics_path=None)``: no
                                          ``hookwatch`` blueprint, no ``/metrics`` rule
  HOOKWATCH_EVERYWHERE_SERVER_TIMING=0    ``Hookwatch(app, server_timing=False)``

At the end of the session it prints how many apps were instrumented and every failure
hookwatch reported about itself (``FailureReporter``: "hookwatch: <where> failed: ..."),
with the test that was running: hookwatch swallows those, so no test fails on them.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

import flask
import pytest

# The hookwatch project (the directory holding its ``app`` package): HOOKWATCH_PROJECT, by
# default the repository this file is in.
_PROJECT = os.path.abspath(os.environ.get(
    "HOOKWATCH_PROJECT", os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, _PROJECT)
try:
    from app.hookwatch import Hookwatch
    from app.hookwatch.logs import FailureReporter
finally:
    # The project's top-level package is called ``app``, like the modules Flask's CLI tests
    # import: ``ScriptInfo().load_app()`` tries ``import app`` (an ``app.py`` in the working
    # directory, tests/test_apps/cliapp/app.py). Left importable it would answer them (and
    # its create_app would run). So once app.hookwatch and every submodule it imports later
    # are loaded (they stay in sys.modules and keep working), the project leaves sys.path
    # and its ``app`` leaves sys.modules.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _PROJECT]
    _app = sys.modules.get("app")
    if os.path.dirname(os.path.dirname(getattr(_app, "__file__", "") or "")) == _PROJECT:
        del sys.modules["app"]

_state: dict[str, Any] = {"apps": 0, "nodeid": None, "failures": []}


def _options() -> dict[str, Any]:
    options: dict[str, Any] = {}
    path = os.environ.get("HOOKWATCH_EVERYWHERE_METRICS_PATH")
    if path is not None:
        options["metrics_path"] = None if path.lower() in {"", "none"} else path
    timing = os.environ.get("HOOKWATCH_EVERYWHERE_SERVER_TIMING")
    if timing is not None:
        options["server_timing"] = timing not in {"0", "false", "no"}
    return options


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("HOOKWATCH_EVERYWHERE", "1") == "0":
        return
    options = _options()
    original_init = flask.Flask.__init__

    @functools.wraps(original_init)
    def __init__(self: flask.Flask, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        # A subclass's __init__ that calls super().__init__ lands here once; guard anyway.
        if "hookwatch" not in self.extensions:
            Hookwatch(self, **options)
            _state["apps"] += 1

    flask.Flask.__init__ = __init__  # type: ignore[method-assign]

    original_report = FailureReporter.report

    def report(self: FailureReporter, where: str, error: BaseException) -> None:
        _state["failures"].append((_state["nodeid"], where, repr(error)))
        original_report(self, where, error)

    FailureReporter.report = report  # type: ignore[method-assign]
    config.stash[_key] = (original_init, original_report)


_key = pytest.StashKey[tuple]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Any:
    _state["nodeid"] = item.nodeid
    try:
        return (yield)
    finally:
        _state["nodeid"] = None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if os.environ.get("HOOKWATCH_EVERYWHERE", "1") == "0":
        terminalreporter.write_line("hookwatch_everywhere: disabled")
        return
    tr = terminalreporter
    tr.write_sep("-", "hookwatch_everywhere")
    tr.write_line(f"apps instrumented: {_state['apps']}  options: {_options() or 'defaults'}")
    failures = _state["failures"]
    tr.write_line(f"hookwatch self-reported failures: {len(failures)}")
    for nodeid, where, error in failures:
        tr.write_line(f"  {nodeid}: {where}: {error}")


def pytest_unconfigure(config: pytest.Config) -> None:
    originals = config.stash.get(_key, None)
    if originals is not None:
        flask.Flask.__init__, FailureReporter.report = originals  # type: ignore[method-assign]
