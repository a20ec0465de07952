#!/usr/bin/env python
"""Manage hookwatch with Flask-Script-NG: ``python manage.py runserver|shell|routes|traffic``.

``python manage.py -?`` lists the commands; ``python manage.py COMMAND -?`` explains one.
"""

from __future__ import annotations

import sys

from flask import current_app, g
from flask_script_ng import Manager, Shell
from flask_script_ng.commands import InvalidCommand

from app import create_app
from app.hookwatch import multiproc
from app.config import ConfigError
from app.devserver import DevServer
from app.traffic.command import Traffic

__all__ = ["build_manager", "main", "make_shell_context", "routes"]


def make_shell_context() -> dict[str, object]:
    """The names a shell session needs, inside the app context."""
    hookwatch = current_app.extensions["hookwatch"]
    return {
        "app": current_app._get_current_object(),  # type: ignore[attr-defined]
        "current_app": current_app,
        "g": g,
        "metrics": hookwatch.metrics,
        "registry": hookwatch.metrics.registry,
    }


def routes() -> None:
    """List every URL rule with its methods and endpoint, like app.url_map."""
    rules = sorted(current_app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint))
    rows = [("Endpoint", "Methods", "Rule")]
    rows += [(r.endpoint, ", ".join(sorted(r.methods or ())), r.rule) for r in rules]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for endpoint, methods, rule in rows:
        print(f"{endpoint:<{widths[0]}}  {methods:<{widths[1]}}  {rule}")


def build_manager() -> Manager:
    """A fresh manager: Flask-Script keeps the app it built, so tests take a new one each."""
    manager = Manager(create_app, usage="Run and inspect the hookwatch app.")
    manager.add_option(
        "-c", "--config", dest="config_name", required=False,
        help="configuration: development, testing or production (default: "
        "$HOOKWATCH_CONFIG, else development)",
    )
    manager.add_command("runserver", DevServer())
    manager.add_command(
        "shell",
        Shell(
            make_context=make_shell_context,
            banner="hookwatch shell: app, current_app, g, metrics and registry are ready.",
        ),
    )
    manager.command(routes)
    manager.add_command("traffic", Traffic())
    return manager


def main() -> None:
    """Run the command line; a setting the app refuses is one clear line and exit status 2."""
    # Before the app (and its metrics) exist: `runserver --processes N` needs multiprocess
    # metrics, which prometheus-client only honours for metrics created afterwards.
    multiproc.setup_from_argv(sys.argv[1:])
    try:
        build_manager().run()
    except (ConfigError, InvalidCommand) as error:
        print(f"manage.py: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
