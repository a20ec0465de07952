"""structlog and stdlib logging set-up: readable console lines in development, JSON lines in production.

Our own events go through structlog's native, fast path; Flask's, werkzeug's and any
library's stdlib records go through the same processors via ``ProcessorFormatter``, so every
line has the same shape and carries the request id bound in ``structlog.contextvars``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

__all__ = ["configure_logging", "get_logger"]

_HANDLER_MARK = "_hookwatch_handler"


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderer(log_format: str, stream: TextIO) -> list[Processor]:
    if log_format == "json":
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    colors = bool(getattr(stream, "isatty", lambda: False)())
    # Plain tracebacks: a rich one would print frame locals, such as the WSGI environ with
    # its Cookie and Authorization headers.
    return [structlog.dev.ConsoleRenderer(colors=colors,
                                          exception_formatter=structlog.dev.plain_traceback)]


def configure_logging(log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to ``stream`` (default stdout) in ``log_format``.

    Safe to call again: the handler installed by an earlier call is replaced, not doubled.
    """
    stream = sys.stdout if stream is None else stream
    level_number = logging.getLevelNamesMapping()[level]
    renderer = _renderer(log_format, stream)
    structlog.configure(
        processors=[*_shared_processors(), *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *_shared_processors(),
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
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


def get_logger(**initial: Any) -> Any:
    """Return a structlog logger bound now, so it uses the configuration made last."""
    return structlog.get_logger().bind(logger="hookwatch", **initial)
