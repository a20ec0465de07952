"""The lessons: classic Flask routes (``views``), error pages by ``Accept`` (``errors``), and
request guards and security headers for the whole app (``security``)."""

from __future__ import annotations

from .errors import errors
from .security import security
from .views import main

__all__ = ["errors", "main", "security"]
