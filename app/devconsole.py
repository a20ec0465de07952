"""What the development server shows: its URL plainly, and the debugger tied to its request.

- Werkzeug announces the server in one record spanning several lines, with colour codes:
  console logs would show it as one line with literal ``\\n``, JSON logs would carry the
  codes. :class:`ServerBanner` rewrites that record into one plain line with the URL(s), and
  echoes it on stderr when the logs go to a file, so the terminal always shows where to go.
- The Werkzeug debugger wraps the whole app, so its error page bypasses the hooks that add
  ``X-Request-ID`` and ``Server-Timing``, and it prints the traceback that the request's
  ``request_failed`` line already carries. :class:`DebuggerWithRequestIds` adds the headers
  and drops that second copy.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, Callable, Iterable

from werkzeug.debug import DebuggedApplication

from .hookwatch.logs import COLOUR_CODES, REQUEST_ENVIRON_KEY

__all__ = ["DebuggerWithRequestIds", "ServerBanner"]

_URL = re.compile(r"https?://\S+")


class ServerBanner(logging.Filter):
    """A filter for the ``werkzeug`` logger: its start-up banner becomes one plain line,
    ``Serving on http://127.0.0.1:5000 (development server; Ctrl-C to quit)``; its separate
    ``Press CTRL+C to quit`` line is dropped (the banner says it). ``echo`` also prints the
    line on stderr (logs going to a file)."""

    def __init__(self, echo: bool = False) -> None:
        super().__init__("werkzeug")
        self.echo = echo

    def filter(self, record: logging.LogRecord) -> bool:
        message = COLOUR_CODES.sub("", record.getMessage())
        if message == "Press CTRL+C to quit":
            return False
        if "Running on" not in message:
            return True
        urls = [url for url in _URL.findall(message) if "0.0.0.0" not in url]
        record.msg = f"Serving on {', '.join(urls)} (development server; Ctrl-C to quit)"
        record.args = ()
        record.levelno, record.levelname = logging.INFO, "INFO"
        if self.echo:
            print(f"hookwatch: {record.msg}", file=sys.stderr, flush=True)
        return True


class DebuggerWithRequestIds:
    """Werkzeug's debugger around ``app``; its error page carries the failed request's
    ``X-Request-ID`` and ``Server-Timing``, and the traceback is printed once, by the
    request's ``request_failed`` line."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.debugger = DebuggedApplication(app, evalex=True)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            state = environ.get(REQUEST_ENVIRON_KEY)
            names = {name.lower() for name, _ in headers}
            if state is not None and "x-request-id" not in names:
                headers.append(("X-Request-ID", state.request_id))
                if state.finished is not None and "server-timing" not in names:
                    headers.append(("Server-Timing", state.server_timing(state.finished)))
            return start_response(status, headers, exc_info)

        environ["wsgi.errors"] = _UnloggedErrors(environ, environ["wsgi.errors"])
        return self.debugger(environ, start)


class _UnloggedErrors:
    """``wsgi.errors`` for the debugger: what it writes goes through, except once the
    request's failure is logged with its traceback (the debugger's own copy of it)."""

    def __init__(self, environ: dict[str, Any], stream: Any) -> None:
        self.environ = environ
        self.stream = stream

    def write(self, text: str) -> None:
        state = self.environ.get(REQUEST_ENVIRON_KEY)
        if state is None or not (state.recorded and state.error is not None):
            self.stream.write(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.stream.flush()
