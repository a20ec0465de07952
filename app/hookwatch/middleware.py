"""The WSGI middleware that guarantees what hook registration order cannot.

Flask skips the remaining ``teardown_request`` functions when one raises, so hookwatch's
own may never run; the exception then leaves ``app.wsgi_app`` and the server answers 500.
:class:`RecordingMiddleware` wraps ``app.wsgi_app`` (Flask's documented middleware
pattern) and records any request the hooks began but did not record, as that 500.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterable

from flask import Flask

from .logs import REQUEST_ENVIRON_KEY

if TYPE_CHECKING:
    from .hooks import RequestLifecycle

__all__ = ["RecordingMiddleware"]


class RecordingMiddleware:
    """Calls the app's WSGI callable, then records a request its hooks left unrecorded.

    The app's own ``wsgi_app`` method is held weakly, so the app and this middleware
    (which the app holds) form no reference cycle; another middleware installed before
    hookwatch is held as it is.
    """

    def __init__(self, app: Flask, lifecycle: RequestLifecycle) -> None:
        wrapped = app.wsgi_app
        if getattr(wrapped, "__self__", None) is app:
            self._method: Callable[[], Any] = weakref.WeakMethod(wrapped)
        else:
            self._method = lambda: wrapped
        self.lifecycle = lifecycle

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        error: BaseException | None = None
        try:
            return self._method()(environ, start_response)
        except BaseException as exc:
            error = exc
            raise
        finally:
            state = environ.get(REQUEST_ENVIRON_KEY)
            if state is not None and not state.recorded:
                try:
                    self.lifecycle.finish(state, error, server_error=error is not None)
                except Exception as failure:  # noqa: BLE001
                    self.lifecycle.report_failure("middleware", failure)
