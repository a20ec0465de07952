"""The ``runserver`` command: Flask-Script-NG's classic ``Server`` with hookwatch's care.

- Werkzeug's access line is dropped: our ``request_finished`` line already says it all.
- The Werkzeug debugger runs code for whoever reaches it, so enabling it on a host that is
  not loopback prints a loud warning, and production refuses it.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

from flask import Flask
from flask_script_ng import Server
from flask_script_ng.commands import InvalidCommand
from werkzeug.serving import WSGIRequestHandler

__all__ = ["DevServer", "QuietRequestHandler", "is_loopback"]

DEBUGGER_WARNING = (
    "WARNING: the Werkzeug debugger is on and {host} is not a loopback address. "
    "Anyone who can reach this server can run arbitrary code on this machine. "
    "Use -h 127.0.0.1, or drop -d."
)


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its access line; errors are still logged."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DevServer(Server):
    """Runs the Flask development server (``app.run``); defaults to 127.0.0.1:5000."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("request_handler", QuietRequestHandler)
        super().__init__(**options)

    def __call__(self, app: Flask, host: str, port: int, use_debugger: bool | None,
                 use_reloader: bool | None, threaded: bool, processes: int,
                 passthrough_errors: bool, ssl_crt: str | None, ssl_key: str | None) -> None:
        if use_debugger and app.config.get("NAME") == "production":
            raise InvalidCommand("the production configuration refuses the Werkzeug debugger (-d)")
        if use_debugger and not is_loopback(host):
            print(DEBUGGER_WARNING.format(host=host), file=sys.stderr, flush=True)
        super().__call__(app, host, port, use_debugger, use_reloader, threaded, processes,
                         passthrough_errors, ssl_crt, ssl_key)
