#!/usr/bin/env python
"""Manage hookwatch with Flask-Script-NG: ``python manage.py runserver|shell|routes|traffic``.

``python manage.py -h`` (or ``-?``) lists the commands; ``python manage.py COMMAND -?``
explains one.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

from flask import current_app, g
from flask_script_ng import Manager, Shell
from flask_script_ng.commands import InvalidCommand

from app import create_app
from app.hookwatch import multiproc
from app.config import ConfigError
from app.devserver import DevServer
from app.traffic.command import Traffic

__all__ = ["HookwatchManager", "build_manager", "main", "make_shell_context", "routes"]


class HookwatchManager(Manager):
    """Flask-Script-NG's manager, with plainer answers to a bare or mistyped command line."""

    # -h asks for help as in most tools (runserver keeps -h for its host: see DevServer).
    help_args = ("-?", "-h", "--help")

    def handle(self, prog: str, args: Sequence[str] | None = None) -> Any:
        """Run the command line. Without a command, print the command list (Flask-Script-NG
        says "too few arguments"); name unknown arguments (it says "too many arguments")."""
        # Parsed once here and again by Manager.handle, which has no hook before its errors.
        args = list(args or [])
        self.set_defaults()
        parser = self.create_parser(prog)
        namespace, unknown = parser.parse_known_args(args)
        func_stack = getattr(namespace, "func_stack", None)
        if not func_stack:
            parser.print_help()
            parser.exit(2)
        if unknown and not getattr(func_stack[-1], "capture_all_args", False):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return super().handle(prog, args)


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
    # A description, not a usage: argparse then writes the usage line from the options.
    manager = HookwatchManager(create_app, description="Run and inspect the hookwatch app.")
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
