"""The lessons: classic Flask routes (``views``) and error pages by ``Accept`` (``errors``)."""

from __future__ import annotations

from .errors import errors
from .views import main

__all__ = ["errors", "main"]
