"""structlog processors that tie log lines to their request, and an optional logging set-up.

The extension itself only *logs*, through structlog (``structlog.get_logger``): its request
line goes through whatever pipeline the application configured, so
``structlog.testing.capture_logs`` sees it too. :func:`configure_logging` is one such
pipeline, for an app factory to call (it changes process-wide state: structlog's
configuration and the root logger): readable console lines in development, one JSON object
per line in production, stdlib records (Flask's, werkzeug's, any library's) rendered the
same way, and every line written while a request runs carrying its ``request_id``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
from contextvars import ContextVar
from typing import Any, Callable, TextIO

import orjson
import structlog
from flask import has_request_context, request
from structlog.typing import Processor

__all__ = [
    "COLOUR_CODES",
    "REQUEST_ENVIRON_KEY",
    "FailureReporter",
    "LogFileError",
    "add_request_ids",
    "configure_logging",
    "current_request",
    "escape_control_characters",
    "failure_fields",
    "get_logger",
    "json_dumps",
    "omit_reported_traceback",
    "open_log_file",
]

# The request being handled in this context: an object with ``request_id``, ``trace_id``
# (``None`` or a string) and ``error`` (the exception Flask is handling, if any). Set and
# reset by the lifecycle (hooks.py). A ContextVar, like Flask's own request context, so a
# request made inside a view's request has its own, and threads started from a copy of the
# context (``contextvars.copy_context()``) see it.
current_request: ContextVar[Any] = ContextVar("hookwatch_request", default=None)
# The same object in the request's WSGI environ: found again wherever the request's context
# is pushed (a body streamed with ``stream_with_context``, ``copy_current_request_context``
# in a thread) and by the WSGI middleware once the context is gone.
REQUEST_ENVIRON_KEY = "hookwatch.request"

_HANDLER_MARK = "hookwatch_handler"


def _request_being_handled() -> Any:
    current = current_request.get()
    if current is None and has_request_context():
        current = request.environ.get(REQUEST_ENVIRON_KEY)
    return current


def add_request_ids(_logger: Any, _name: str, event_dict: Any) -> Any:
    """structlog processor: the current request's ``request_id``, and its ``trace_id`` if it
    has one, unless the line has its own (passed to the log call or bound in
    ``structlog.contextvars``)."""
    current = _request_being_handled()
    if current is not None:
        event_dict.setdefault("request_id", current.request_id)
        if current.trace_id is not None:
            event_dict.setdefault("trace_id", current.trace_id)
    return event_dict


def omit_reported_traceback(_logger: Any, _name: str, event_dict: Any) -> Any:
    """structlog processor for stdlib records: drop the traceback of the exception the
    current request failed with, which its ``request_failed`` line carries. Flask's own
    ``Exception on /path [GET]`` record still reaches ``app.logger``'s handlers whole; only
    this rendering of it loses the second copy of the traceback."""
    exc_info = event_dict.get("exc_info")
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        current = _request_being_handled()
        if current is not None and current.error is not None and exc_info[1] is current.error:
            del event_dict["exc_info"]
    return event_dict


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
COLOUR_CODES = re.compile(r"\x1b\[[0-9;]*m")  # SGR: colours and bold, nothing else


def escape_control_characters(_logger: Any, _name: str, event_dict: Any) -> Any:
    """structlog processor: write control characters in string values as escapes (``\\n``,
    ``\\x1b[2J``).

    In console output a crafted value (a path with ``%0a``, a header with ESC) could otherwise
    end the line and forge the next one, or take over the terminal. Only in the message
    itself are colour codes dropped instead: werkzeug's banner is full of them; a value such
    as a path keeps them, escaped, so it is logged as it was sent. A formatted traceback
    (``exception``) keeps its lines.
    """
    for key, value in event_dict.items():
        if key != "exception" and isinstance(value, str) and _CONTROL.search(value):
            if key == "event":
                value = COLOUR_CODES.sub("", value)
            event_dict[key] = _CONTROL.sub(_escape, value)
    return event_dict


def _escape(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


def failure_fields(error: BaseException) -> dict[str, str]:
    """An exception as log fields: its type and its plain traceback, as text.

    Formatted here rather than passed as ``exc_info``, so the line never depends on the
    renderer the app configured: structlog's default one prints rich tracebacks with every
    frame's local variables, the WSGI environ with its cookies among them.
    """
    return {"error_type": type(error).__name__,
            "exception": "".join(traceback.format_exception(error)).rstrip("\n")}


def json_dumps(event_dict: Any, default: Callable[[Any], Any] | None = None, **_: Any) -> str:
    """Serialise a log line as ASCII JSON, like ``json.dumps``, in a fraction of its time:
    orjson's output where it is ASCII, else (non-ASCII text, which ``json.dumps`` escapes;
    what orjson refuses: non-string keys, integers beyond 64 bits, lone surrogates)
    ``json.dumps``'s. ASCII lines read back in any stream's encoding."""
    try:
        line = orjson.dumps(event_dict, default=default)
    except TypeError:
        line = b"\x80"
    if line.isascii():
        return line.decode()
    return json.dumps(event_dict, default=default)


class FailureReporter:
    """Tells stderr of a failure of our own (logging, metrics), once per place and error
    type: the channel left when logging itself may be what failed."""

    def __init__(self) -> None:
        self._reported: set[tuple[str, str]] = set()

    def report(self, where: str, error: BaseException) -> None:
        key = (where, type(error).__name__)
        if key in self._reported:
            return
        self._reported.add(key)
        try:
            print(f"hookwatch: {where} failed: {error!r}", file=sys.__stderr__, flush=True)
        except Exception:  # noqa: BLE001 - stderr itself is gone; nothing left to tell
            pass


class _GuardedStream:
    """The log stream, with write failures (a closed or broken stdout) reported on stderr
    instead of raised into the code that logged, and one lock for every writer (structlog's
    and stdlib logging's): a text stream is not thread-safe."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._failures = FailureReporter()
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        try:
            with self._lock:
                self.stream.write(text)
        except Exception as error:  # noqa: BLE001
            self._failures.report("log stream (lines are lost)", error)

    def flush(self) -> None:
        try:
            with self._lock:
                self.stream.flush()
        except Exception as error:  # noqa: BLE001
            self._failures.report("log stream (lines are lost)", error)


def _renderer(log_format: str, stream: TextIO) -> list[Processor]:
    if log_format == "json":
        return [structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(serializer=json_dumps)]
    colors = bool(getattr(stream, "isatty", lambda: False)())
    # JSON escapes control characters itself; the console renderer would write them raw.
    # Plain tracebacks: a rich one would print frame locals, such as the WSGI environ with
    # its Cookie and Authorization headers.
    return [escape_control_characters,
            structlog.dev.ConsoleRenderer(colors=colors,
                                          exception_formatter=structlog.dev.plain_traceback)]


def configure_logging(log_format: str = "console", level: str = "INFO",
                      stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to ``stream`` (default stdout): ``log_format``
    ``"console"`` or ``"json"``, records below ``level`` (a level name) dropped.

    Process-wide: it configures structlog and puts one handler on the root logger (an
    earlier call's handler is replaced, not doubled). Call it from an app factory, before
    building apps; ``Hookwatch(app)`` itself never touches logging.
    """
    if log_format not in {"console", "json"}:
        raise ValueError(f"log_format must be 'console' or 'json', got {log_format!r}")
    level_number = logging.getLevelNamesMapping()[level]
    stream = sys.stdout if stream is None else stream
    guarded = _GuardedStream(stream)
    renderer = _renderer(log_format, stream)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_request_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    structlog.configure(
        processors=[*shared, *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        logger_factory=structlog.WriteLoggerFactory(file=guarded),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(guarded)  # type: ignore[arg-type]
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, omit_reported_traceback],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    ))
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_number)


class LogFileError(OSError):
    """A log file cannot be opened for appending."""


def open_log_file(path: str) -> TextIO:
    """Open ``path`` to append log lines to, creating the file if needed.

    Opened for appending, so processes sharing the file on a local filesystem add their
    lines at its end (each line is flushed as one write once logged), and a file truncated
    in place (logrotate's ``copytruncate``) is written from its new end. Text that UTF-8
    cannot encode (a lone surrogate) is escaped, never lost.
    """
    try:
        return open(path, "a", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
    except OSError as error:
        raise LogFileError(
            f"LOG_FILE {path!r} cannot be opened for appending: {error.strerror or error}"
        ) from error


def get_logger() -> Any:
    """A structlog logger whose lines say ``logger="hookwatch"``, bound to the structlog
    configuration in force now: get one where it is used, not at import."""
    return structlog.get_logger().bind(logger="hookwatch")
