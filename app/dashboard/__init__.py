"""The built-in live dashboard: ``/dashboard`` (the page) and ``/dashboard/data.json``.

For watching the hooks without Docker, Prometheus or Grafana. The JSON is computed from the
app's own metrics registry (the aggregated view of every worker in multiprocess mode) and
the lifecycle's ring of recent requests (per process). The page polls it and draws its
charts with the hand-written script in ``static/``; no remote asset is loaded.

Its endpoints are not counted in the HTTP metrics (it adds them to the lifecycle's
``uncounted_endpoints`` when registered). When
``METRICS_TOKEN`` is set it needs that token, as a bearer token or as the password of the
browser's Basic prompt; it is registered only when ``DASHBOARD_ENABLED`` (off in production).
"""

from __future__ import annotations

import os
import time
from collections import deque

from flask import Blueprint, current_app, render_template, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from ..hookwatch.endpoints import token_presented
from .snapshot import snapshot

__all__ = ["ENDPOINTS", "dashboard"]

ENDPOINTS = frozenset({"dashboard.page", "dashboard.data", "dashboard.static"})
DEFAULT_REFRESH_MS = 2000

dashboard = Blueprint(
    "dashboard", __name__, url_prefix="/dashboard",
    template_folder="templates", static_folder="static",
)


@dashboard.record_once
def attach(state: BlueprintSetupState) -> None:
    """Tell the lifecycle about the dashboard: keep a ring of the last requests; do not count
    the dashboard's own requests (watching must not move the needle); answer them while a
    warm-up fails, so the page can show it."""
    lifecycle = state.app.extensions["hookwatch"]
    lifecycle.recent = deque(maxlen=int(state.app.config["DASHBOARD_RECENT_REQUESTS"]))
    lifecycle.uncounted_endpoints.update(ENDPOINTS)
    lifecycle.warmup_exempt_endpoints.update(ENDPOINTS)


@dashboard.before_request
def require_token() -> None:
    """With ``METRICS_TOKEN`` set, every dashboard request must present it."""
    token = current_app.config.get("HOOKWATCH_METRICS_TOKEN")
    if token and not token_presented(token, basic_allowed=True):
        raise Unauthorized(
            "The dashboard needs the METRICS_TOKEN: 'Authorization: Bearer <token>', "
            "or any user name with the token as password.",
            www_authenticate=WWWAuthenticate("basic", {"realm": "hookwatch dashboard"}),
        )


@dashboard.route("")
def page() -> ResponseReturnValue:
    """The page; ``?refresh=MS`` changes how often it polls (250 ms to 60 s)."""
    refresh = request.args.get("refresh", type=int) or DEFAULT_REFRESH_MS
    return render_template("dashboard/index.html", refresh_ms=min(max(refresh, 250), 60000))


@dashboard.route("/data.json")
def data() -> ResponseReturnValue:
    """The numbers the page draws, computed now."""
    lifecycle = current_app.extensions["hookwatch"]
    metrics = lifecycle.metrics
    body = snapshot(metrics.collect(), tuple(lifecycle.recent), time.time(),
                    pid=os.getpid(), multiprocess=metrics.multiprocess)
    return body, 200, {"Cache-Control": "no-store"}

