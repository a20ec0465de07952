"""The classic Flask lessons as live routes; each one also feeds the dashboards."""

from __future__ import annotations

import logging
import time

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

__all__ = ["USERS", "main"]

main = Blueprint("main", __name__)
log = logging.getLogger(__name__)

# A tiny stand-in for a user table, so /users/<id> can show abort(404).
USERS = {1: "Ada Lovelace", 2: "Alan Turing"}


@main.route("/")
def index() -> ResponseReturnValue:
    """Hello world, from a Jinja2 template."""
    return render_template("index.html")


@main.route("/user/<name>")
def user(name: str) -> ResponseReturnValue:
    """A dynamic route; Jinja2 escapes the name, so markup in it is shown, not run."""
    return render_template("user.html", name=name)


@main.route("/browser")
def browser() -> ResponseReturnValue:
    """The request context: the caller's User-Agent, read from ``request``."""
    return render_template("browser.html", user_agent=request.headers.get("User-Agent", ""))


@main.route("/context")
def context() -> ResponseReturnValue:
    """The four context globals: ``current_app``, ``g``, ``request`` and ``session``."""
    session["visits"] = session.get("visits", 0) + 1
    log.info("context_visited")  # a plain stdlib line; session contents are never logged
    return render_template(
        "context.html",
        app_name=current_app.name,
        request_id=g.request_id,
        method=request.method,
        visits=session["visits"],
    )


@main.route("/bad")
def bad() -> ResponseReturnValue:
    """A status code as the second value of the return tuple."""
    return "<h1>Bad Request</h1><p>This route always answers 400.</p>", 400


@main.route("/cookie")
def cookie() -> ResponseReturnValue:
    """``make_response`` gives a response object to change before it is returned."""
    response = make_response("<h1>This document carries a cookie!</h1>")
    response.set_cookie("answer", "42", httponly=True, samesite="Lax")
    return response


@main.route("/redirect")
def redirect_home() -> ResponseReturnValue:
    """A 302 redirect, here back to the hello world page."""
    return redirect(url_for("main.index"))


@main.route("/users/<int:user_id>")
def show_user(user_id: int) -> ResponseReturnValue:
    """``abort(404)`` ends the request with an error page when the user is unknown."""
    name = USERS.get(user_id)
    if name is None:
        abort(404, description=f"There is no user with id {user_id}.")
    return render_template("user.html", name=name)


@main.route("/boom")
def boom() -> ResponseReturnValue:
    """Raise, to show the 500 path: counted once, logged once with the traceback."""
    raise RuntimeError("boom: this route fails on purpose")


@main.route("/slow")
def slow() -> ResponseReturnValue:
    """Sleep ``ms`` milliseconds (0 to ``SLOW_MAX_MS``), to move the latency graphs."""
    limit = current_app.config["SLOW_MAX_MS"]
    values = request.args.getlist("ms")
    if len(values) > 1:
        abort(400, description="Give ms once, for example /slow?ms=250.")
    raw = values[0] if values else "100"
    # The length check keeps int() away from huge digit strings.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or int(raw) > limit:
        abort(400, description=f"ms must be a whole number from 0 to {limit}, for example /slow?ms=250.")
    milliseconds = int(raw)
    time.sleep(milliseconds / 1000)
    return {"slept_ms": milliseconds}
