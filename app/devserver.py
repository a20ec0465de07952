"""The ``runserver`` command: Flask-Script-NG's classic ``Server`` with hookwatch's care.

- Werkzeug's access line is dropped: our ``request_finished`` line already says it all.
- The Werkzeug debugger runs code for whoever reaches it, so enabling it on a host that is
  not loopback prints a loud warning, and production refuses it. ``-d`` turns the reloader
  on too (Flask-Script's default; ``-R`` keeps it off).
- The server's URL is one plain line, and the debugger's page carries the request's id
  (:mod:`app.devconsole`).
- ``--processes N`` (N > 1) runs :class:`SlotForkingWSGIServer`: the app warms up once in
  the serving process, which then forks a child per request, at most N at a time; metrics
  go to a bounded multiprocess directory (see :mod:`app.hookwatch.multiproc`), which ``manage.py``
  must have set up before the app was created.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from typing import Any

from flask import Flask
from flask_script_ng import Option, Server
from flask_script_ng.commands import InvalidCommand
from prometheus_client import values
from werkzeug.serving import ForkingWSGIServer, WSGIRequestHandler, run_simple

from .access import is_loopback
from .devconsole import DebuggerWithRequestIds, ServerBanner
from .hookwatch import get_logger, multiproc

__all__ = ["DevServer", "QuietRequestHandler", "SlotForkingWSGIServer"]

DEBUGGER_WARNING = (
    "WARNING: the Werkzeug debugger is on and {host} is not a loopback address. "
    "Anyone who can reach this server can run arbitrary code on this machine. "
    "Use -h 127.0.0.1, or drop -d."
)


# Help for the classic options Flask-Script-NG leaves without any (argparse expands %(default)s).
OPTION_HELP = {
    "host": "the address to listen on; 0.0.0.0 for every interface (default: %(default)s)",
    "port": "the port to listen on, 0 to pick a free one (default: %(default)s)",
    "threaded": "serve requests in parallel, one thread each (default: one at a time)",
    "processes": "above 1: serve requests in parallel, one forked process each, at most"
                 " PROCESSES at once; not with --threaded, -d or -r (default: 1, no forking)",
    "passthrough_errors": "let errors that escape the app stop the server instead of being"
                          " caught, so that a debugger such as pdb can take over",
}


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its access line; errors are still logged."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class DevServer(Server):
    """Runs the Flask development server (``app.run``); defaults to 127.0.0.1:5000."""

    # -h is the host here, as in classic Flask-Script: help is only -? and --help.
    help_args = ("-?", "--help")

    def __init__(self, **options: Any) -> None:
        options.setdefault("request_handler", QuietRequestHandler)
        super().__init__(**options)

    def get_options(self) -> tuple[Option, ...]:
        """Flask-Script-NG's options, each with a help text."""
        options = super().get_options()
        return tuple(Option(*option.args, **{"help": OPTION_HELP.get(option.kwargs["dest"]),
                                             **option.kwargs}) for option in options)

    def __call__(self, app: Flask, host: str, port: int, use_debugger: bool | None,
                 use_reloader: bool | None, threaded: bool, processes: int,
                 passthrough_errors: bool, ssl_crt: str | None, ssl_key: str | None) -> None:
        # Refused here, not left to the server: getaddrinfo takes port 99999 modulo 65536
        # (a server on 34463), and Werkzeug runs one process for any --processes below 2.
        if not 0 <= port <= 65535:
            raise InvalidCommand(f"--port must be 0 to 65535 (0 picks a free port), got {port}")
        if processes < 1:
            raise InvalidCommand(f"--processes must be 1 or more, got {processes}")
        if use_debugger and app.config.get("NAME") == "production":
            raise InvalidCommand("the production configuration refuses the Werkzeug debugger (-d)")
        if use_debugger and not is_loopback(host):
            print(DEBUGGER_WARNING.format(host=host), file=sys.stderr, flush=True)
        if processes > 1:
            if threaded:
                raise InvalidCommand("choose --threaded or --processes, not both")
            if use_debugger or use_reloader:
                raise InvalidCommand(
                    "--processes cannot run the debugger (-d) or the reloader (-r): a fork per"
                    " request keeps no state between requests; use --threaded for those"
                )
            ssl_context = (ssl_crt, ssl_key) if ssl_crt and ssl_key else None
            serve_forking(app, host, port, processes, self.server_options["request_handler"],
                          passthrough_errors, ssl_context)
            return
        if use_debugger is None:  # Flask-Script's defaults: the app's debug flag, else on
            use_debugger = True if app.debug is None else app.debug
        serve(app, host, port, use_debugger,
              use_debugger if use_reloader is None else use_reloader, threaded,
              passthrough_errors, (ssl_crt, ssl_key) if ssl_crt and ssl_key else None,
              self.server_options["request_handler"])


class SlotForkingWSGIServer(ForkingWSGIServer):
    """Werkzeug's forking server, lending each child one of a bounded pool of metric slots.

    A slot is lent just before ``fork`` and returned when the child is reaped; the reaped
    child's ``live*`` gauge files are deleted then, so a child killed mid-request leaves no
    request in flight behind. The child first calls ``on_child_start`` (inherited state
    fix-ups), and ``on_child_end`` once its request is served (it ends without exit handlers).
    """

    def __init__(self, *args: Any, setup: multiproc.MultiprocessSetup,
                 on_child_start: Any = None, on_child_end: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setup = setup
        self.on_child_start = on_child_start
        self.on_child_end = on_child_end

    def process_request(self, request: Any, client_address: Any) -> None:
        slots = self.setup.slots
        while not slots.free:  # never reached while Werkzeug keeps children < max_children
            self._reap_one()
        # Buffered output would be written again by the child: flush it before forking.
        # (Log lines, to stdout or LOG_FILE, are flushed as each one is written.)
        sys.stdout.flush()
        sys.stderr.flush()
        before = set(self.active_children or ())
        slots.lend()
        try:
            super().process_request(request, client_address)
        except BaseException:
            slots.bind(None)
            raise
        new = set(self.active_children or ()) - before
        slots.bind(new.pop() if new else None)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Only ever called in a forked child (ForkingMixIn.process_request).
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if self.on_child_start is not None:
            self.on_child_start()
        super().finish_request(request, client_address)
        if self.on_child_end is not None:
            self.on_child_end()

    def collect_children(self, *, blocking: bool = False) -> None:
        before = set(self.active_children or ())
        super().collect_children(blocking=blocking)
        self._released(before - set(self.active_children or ()))

    def _reap_one(self) -> None:
        pid, _ = os.waitpid(-1, 0)
        if self.active_children is not None:
            self.active_children.discard(pid)
        self._released({pid})

    def _released(self, pids: set[int]) -> None:
        for pid in pids:
            slot = self.setup.slots.release(pid)
            if slot is not None:
                self.setup.forget_live_gauges(slot)


def serve(app: Flask, host: str, port: int, use_debugger: bool, use_reloader: bool,
          threaded: bool, passthrough_errors: bool, ssl_context: Any, handler: Any) -> None:
    """What ``app.run`` does, with the debugger tied to each request (``-d``) and the
    server's URL on one plain line (:mod:`app.devconsole`); no plain-text banner on stdout,
    so JSON logs stay JSON only."""
    app.debug = use_debugger  # exceptions then reach the debugger
    banner = ServerBanner(echo=bool(app.config.get("LOG_FILE")))
    werkzeug_log = logging.getLogger("werkzeug")
    werkzeug_log.addFilter(banner)
    try:
        run_simple(host, port, DebuggerWithRequestIds(app) if use_debugger else app,
                   use_reloader=use_reloader, threaded=threaded,
                   passthrough_errors=passthrough_errors, ssl_context=ssl_context,
                   request_handler=handler)
    finally:
        werkzeug_log.removeFilter(banner)


def serve_forking(app: Flask, host: str, port: int, processes: int, handler: Any,
                  passthrough_errors: bool, ssl_context: Any) -> None:
    """Warm up once here, then serve with a fork per request and bounded multiprocess metrics."""
    lifecycle = app.extensions["hookwatch"]
    setup = _checked_setup(lifecycle.metrics.multiprocess, processes)
    with app.app_context():
        lifecycle.warmup.ensure()
    # Objects that exist now are never collected in a child: a collection there would write
    # to (and so copy) every page the child shares with this process.
    gc.collect()
    gc.freeze()
    get_logger().info(
        "runserver_multiprocess", processes=processes, multiproc_dir=setup.directory,
        multiproc_dir_owned=setup.owned,
    )

    def child_start() -> None:
        # A child starts with the server's values but writes its slot's files, where the
        # readiness gauge (livemin) would otherwise read 0 and mark the whole server unready.
        try:
            lifecycle.metrics.ready.set(1 if lifecycle.warmup.done else 0)
        except Exception as error:  # noqa: BLE001 - the request must still be served
            lifecycle.report_failure("child_start", error)

    server = SlotForkingWSGIServer(
        host, port, app, processes, handler, passthrough_errors, ssl_context,
        setup=setup, on_child_start=child_start,
        on_child_end=lambda: _flush_exemplars(lifecycle),
    )
    owner = os.getpid()

    def stop(signum: int, frame: Any) -> None:
        if os.getpid() == owner:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.log_startup()
        server.serve_forever()  # returns on Ctrl-C or SIGTERM, after reaping the children
    finally:
        signal.signal(signal.SIGTERM, previous)
        setup.cleanup()


def _flush_exemplars(lifecycle: Any) -> None:
    """Write the child's exemplars before it ends (its writer thread would wait a second)."""
    try:
        lifecycle.metrics.exemplar_store.flush()
    except Exception as error:  # noqa: BLE001 - the response is out; report and end
        lifecycle.report_failure("writing exemplars", error)


def _checked_setup(metrics_multiprocess: bool, processes: int) -> multiproc.MultiprocessSetup:
    """The multiprocess setup made before the app was created, or a clear refusal."""
    setup = multiproc.current()
    if (setup is None or not metrics_multiprocess or values.ValueClass is not setup.value_class
            or setup.slots.size < processes):
        raise InvalidCommand(
            "--processes needs multiprocess metrics set up before the app is created: run it"
            " as `python manage.py runserver --processes N` (manage.py calls"
            " app.hookwatch.multiproc.setup_from_argv first)"
        )
    return setup
