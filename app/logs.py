"""structlog and stdlib logging set-up: readable console lines in development, JSON lines in production.

Our own events go through structlog's native path; Flask's, werkzeug's and any library's
stdlib records go through the same processors via ``ProcessorFormatter``, so every line has
the same shape and, while a request runs, carries its id (:func:`add_request_ids`). The one
line per request is written by :class:`RequestLog` with the same renderer and sink, without
structlog's bound-logger layers (so ``structlog.testing.capture_logs`` does not see it).
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import sys
import threading
import time
from contextvars import ContextVar
from typing import Any, Callable, TextIO

import orjson
import structlog
from flask import has_request_context, request
from structlog.typing import Processor

from .config import ConfigError

__all__ = [
    "REQUEST_ENVIRON_KEY", "FailureReporter", "RequestLog", "add_request_ids", "add_timestamp",
    "configure_logging", "current_request", "get_logger", "json_dumps", "open_log_file",
]

_HANDLER_MARK = "_hookwatch_handler"


class _UtcTimestamps:
    """ISO 8601 UTC timestamps with microseconds (``2026-01-01T00:00:12.875000Z``).

    The date and time of day are formatted once per second; a line only adds its
    microseconds, half of what ``TimeStamper`` costs (one runs for every request).
    """

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")  # one attribute: threads swap it whole

    def format(self, now: float) -> str:
        """Format ``now`` (seconds since the epoch), rounded to the microsecond."""
        second, micro = divmod(round(now * 1_000_000), 1_000_000)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return f"{cached[1]}.{micro:06d}Z"


_timestamps = _UtcTimestamps()


def add_timestamp(_logger: Any, _name: str, event_dict: Any) -> Any:
    """structlog processor: the event's UTC time as ``timestamp``."""
    event_dict["timestamp"] = _timestamps.format(time.time())
    return event_dict


# The request being handled, an object with ``request_id`` and ``trace_id`` (``None`` or a
# string), set and reset by app.hooks. Read only when a line is logged: a request whose view
# logs nothing pays nothing for its log context (binding the ids in structlog.contextvars
# cost about 2 us per request; see docs/performance.md). So the ids are not in
# structlog.contextvars.get_contextvars(): a thread gets them by running in a copy of the
# request's context (contextvars.copy_context(), flask.copy_current_request_context).
current_request: ContextVar[Any] = ContextVar("hookwatch_request", default=None)
# The same object in the request's WSGI environ, for lines logged where current_request is
# not set but the request's context is pushed: a body streamed with stream_with_context (its
# request has ended), a function run with copy_current_request_context in another thread.
REQUEST_ENVIRON_KEY = "hookwatch.request"


def add_request_ids(_logger: Any, _name: str, event_dict: Any) -> Any:
    """structlog processor: the current request's ``request_id``, and its ``trace_id`` if it
    has one, unless the line has its own (passed to the log call or bound in
    ``structlog.contextvars``: this runs after ``merge_contextvars``)."""
    current = current_request.get()
    if current is None and has_request_context():
        current = request.environ.get(REQUEST_ENVIRON_KEY)
    if current is not None:
        event_dict.setdefault("request_id", current.request_id)
        if current.trace_id is not None:
            event_dict.setdefault("trace_id", current.trace_id)
    return event_dict


def _shared_processors() -> list[Processor]:
    """The fields bound in ``structlog.contextvars``, the request's ids, the level and the
    time, for every line but the request line, which carries them itself (see
    :class:`RequestLog`)."""
    return [structlog.contextvars.merge_contextvars, add_request_ids,
            structlog.processors.add_log_level, add_timestamp]


# Types json.dumps would not know either: handed to the fallback (repr), as before orjson.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_dumps(event_dict: Any, default: Callable[[Any], Any] | None = None) -> str:
    """Serialise a log line: orjson (about 10x faster than ``json.dumps``), same JSON.

    Anything orjson refuses or would write differently (non-ASCII text, which ``json.dumps``
    escapes; non-string keys; integers beyond 64 bits) goes through ``json.dumps``.
    """
    line = _ascii_json(event_dict, default)
    return json.dumps(event_dict, default=default) if line is None else line.decode()


def _ascii_json(value: Any, default: Callable[[Any], Any] | None = None,
                option: int = 0) -> bytes | None:
    """orjson's bytes for ``value`` (with ``option``s, such as a trailing newline), where
    they are ASCII; ``None`` where :func:`json_dumps` takes ``json.dumps`` instead: non-ASCII
    text, types orjson refuses, and, without a ``default``, the ones it passes to it
    (dates, dataclasses: the renderer's fallback writes their ``repr``)."""
    try:
        line = orjson.dumps(value, default=default, option=_ORJSON_OPTIONS | option)
    except TypeError:
        return None
    return line if line.isascii() else None


def _renderer(log_format: str, stream: TextIO) -> list[Processor]:
    if log_format == "json":
        return [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=json_dumps),
        ]
    colors = bool(getattr(stream, "isatty", lambda: False)())
    # JSON escapes control characters itself; the console renderer would write them raw.
    # Plain tracebacks: a rich one would print frame locals, such as the WSGI environ with
    # its Cookie and Authorization headers.
    return [escape_control_characters,
            structlog.dev.ConsoleRenderer(colors=colors,
                                          exception_formatter=structlog.dev.plain_traceback)]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # SGR: colours and bold, nothing else


def escape_control_characters(_logger: Any, _name: str, event_dict: Any) -> Any:
    """Write control characters in string values as escapes (``\\n``, ``\\x1b[2J``).

    In console output a crafted value (a path with ``%0a``, a header with ESC) could otherwise
    end the line and forge the next one, or take over the terminal. Only in the message
    itself are colour codes dropped instead: werkzeug's banner is full of them; a value such
    as a path keeps them, escaped, so it is logged as it was sent.
    """
    for key, value in event_dict.items():
        if isinstance(value, str) and _CONTROL.search(value):
            if key == "event":
                value = _COLOUR.sub("", value)
            event_dict[key] = _CONTROL.sub(_escape, value)
    return event_dict


def _escape(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


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


class _GuardedSink:
    """The log stream, with write failures (a closed or broken stdout) reported instead of
    raised into the request that logged. One lock for every writer (structlog, stdlib
    logging, the request line): a text stream is not thread-safe.

    The request line goes straight to the stream's file descriptor when it has one: one
    ``write`` system call without the text and buffer layers, about 4 µs less per request
    in the benchmark. The stream is flushed first, so lines keep their order.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._failures = FailureReporter()
        self._lock = threading.Lock()
        self._fd, self._encoding = _direct_descriptor(stream)
        self._errors = getattr(stream, "errors", None) or "strict"

    def write(self, text: str) -> None:
        try:
            with self._lock:
                self.stream.write(text)
        except Exception as error:  # noqa: BLE001
            self._failures.report("log sink (lines are lost)", error)

    @property
    def takes_bytes(self) -> bool:
        """Whether :meth:`write_line` takes ASCII bytes, written as they are."""
        return self._fd is not None

    def write_line(self, line: str | bytes) -> None:
        """Write ``line`` and a newline, flushed: one call for the request line. ``bytes``
        (ASCII, the newline included) only if :attr:`takes_bytes`."""
        try:
            with self._lock:
                if self._fd is None:
                    self.stream.write(line + "\n")  # type: ignore[operator]
                    self.stream.flush()
                    return
                self.stream.flush()  # what others wrote through the stream goes first
                data = line if isinstance(line, bytes) else (line + "\n").encode(
                    self._encoding, self._errors)
                while data:  # a pipe may take part of it
                    data = data[os.write(self._fd, data):]
        except Exception as error:  # noqa: BLE001
            self._failures.report("log sink (lines are lost)", error)

    def flush(self) -> None:
        try:
            with self._lock:
                self.stream.flush()
        except Exception as error:  # noqa: BLE001
            self._failures.report("log sink (lines are lost)", error)


def _direct_descriptor(stream: TextIO) -> tuple[int | None, str]:
    """The stream's file descriptor and encoding, if a line can be written to the descriptor
    as the stream would write it: UTF-8 or ASCII text, where encoding a line alone is
    encoding it in the stream (UTF-16 would put a byte-order mark before every line).
    ``(None, "")`` for an in-memory or captured stream, or another encoding.

    Line ends are ``\n``: Python does not tell how a text stream translates them, so a file
    opened with ``newline="\r\n"`` gets its request lines with ``\n`` (on Windows, where
    every text stream writes ``\r\n``, the descriptor is never used).
    """
    try:
        fd = stream.fileno()
        encoding = codecs.lookup(stream.encoding).name
    except (AttributeError, LookupError, OSError, TypeError, ValueError):
        return None, ""  # io.UnsupportedOperation is an OSError and a ValueError
    if encoding not in {"utf-8", "ascii"} or os.linesep != "\n":
        return None, ""
    return fd, encoding


class RequestLog:
    """Writes the one line per request: the same renderer and sink as every other line, less
    of structlog's layers (bound logger, context copy, processor dispatch). The line's
    fields are complete already, ids included, so it needs no context merge.
    """

    _LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

    def __init__(self, renderer: list[Processor], sink: _GuardedSink, level_number: int,
                 json_lines: bool = False) -> None:
        self._renderer = renderer
        self._sink = sink
        self._level_number = level_number
        # JSON to a descriptor: orjson's bytes go straight to it, no str in between.
        self._json_bytes = json_lines and sink.takes_bytes

    def write(self, level: str, event: str, fields: dict[str, Any]) -> None:
        """Write ``fields`` as the ``event`` line at ``level`` (info, warning or error),
        unless ``LOG_LEVEL`` filters it out. ``fields`` becomes the line: it is not copied."""
        if self._LEVELS[level] < self._level_number:
            return
        fields["event"] = event
        fields["level"] = level
        fields["logger"] = "hookwatch"
        fields["timestamp"] = _timestamps.format(time.time())
        if self._json_bytes and "exc_info" not in fields:
            data = _ascii_json(fields, option=orjson.OPT_APPEND_NEWLINE)
            if data is not None:
                self._sink.write_line(data)
                return
        line: Any = fields
        for processor in self._renderer:
            line = processor(None, level, line)
        self._sink.write_line(line)


def configure_logging(log_format: str, level: str, stream: TextIO | None = None) -> RequestLog:
    """Route structlog and stdlib logging to ``stream`` (default stdout) in ``log_format``.

    Returns the writer of the per-request line. Safe to call again: the handler installed by
    an earlier call is replaced, not doubled.
    """
    stream = sys.stdout if stream is None else stream
    level_number = logging.getLevelNamesMapping()[level]
    renderer = _renderer(log_format, stream)
    sink = _GuardedSink(stream)
    structlog.configure(
        processors=[*_shared_processors(), *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        logger_factory=structlog.WriteLoggerFactory(file=sink),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sink)  # type: ignore[arg-type]
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *_shared_processors(),
                structlog.stdlib.add_logger_name,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_number)
    return RequestLog(renderer, sink, level_number, json_lines=log_format == "json")


def open_log_file(path: str) -> TextIO:
    """Open ``path`` (``LOG_FILE``) to append log lines to, creating the file if needed.

    Every line is one ``write`` call to the file's descriptor, opened for appending, so
    processes sharing the file on a local filesystem never interleave their lines, and a
    file truncated in place (logrotate's ``copytruncate``) is written from its new end.
    Text that UTF-8 cannot encode (a lone surrogate) is escaped, never lost.
    """
    try:
        return open(path, "a", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
    except OSError as error:
        raise ConfigError(
            f"LOG_FILE {path!r} cannot be opened for appending: {error.strerror or error}"
        ) from error


def get_logger() -> Any:
    """Return a structlog logger bound now, so it uses the configuration made last."""
    return structlog.get_logger().bind(logger="hookwatch")
