"""The lessons: classic Flask routes (``views``), error pages by ``Accept`` (``errors``), and
request guards and security headers for the whole app (``security``, on ``errors``)."""

from __future__ import annotations

from . import security  # noqa: F401 - registers its hooks on ``errors``
from .errors import errors
from .views import main

__all__ = ["errors", "main"]
