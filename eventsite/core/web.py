"""App-wide web glue: error pages, template filters and globals."""
from __future__ import annotations

import logging
from functools import wraps

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from eventsite.core.errors import DomainError
from eventsite.core.text import format_local, format_money, render_markdown

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/stripe/") or (
        request.accept_mimetypes.best == "application/json"
    )


def private(view):
    """For pages behind a personal link (a ticket, a networking profile, "your data"): the answer is
    not stored, not indexed, and the link is not leaked to other sites in a Referer."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = current_app.make_response(view(*args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapper


def _error_response(status: int, title: str, message: str, code: str):
    if wants_json():
        return jsonify({"error": {"code": code, "message": message}}), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["money"] = lambda cents, currency: format_money(cents, currency)
    app.jinja_env.filters["localtime"] = format_local
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.before_request
    def _no_nul_in_path():
        # PostgreSQL cannot compare text containing NUL (psycopg raises, a 500 found by tests/fuzz):
        # no URL with one names anything, so every token and slug in a path is safe to look up.
        if "\x00" in request.path:
            return _error_response(404, "Page not found", "We could not find that page.", "not_found")
        return None

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError):
        return _error_response(
            400,
            "This form has expired",
            "The form was missing its security token or it no longer matched your session. "
            "Go back, reload the page and try again.",
            "csrf",
        )

    @app.errorhandler(DomainError)
    def _domain(e: DomainError):
        return _error_response(e.status, "That did not work", e.message, e.code)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        titles = {
            404: ("Page not found", "We could not find that page. It may have moved, or the link may be mistyped."),
            403: ("Not allowed", "Your account does not have access to this page."),
            405: ("Not allowed", "That action is not available here."),
            413: ("Too large", "What you sent is too large."),
            429: ("Slow down", "Too many attempts in a short time. Please wait a minute and try again."),
        }
        title, message = titles.get(e.code or 500, (e.name, e.description or e.name))
        if e.code == 400 and e.description:
            message = e.description
        return _error_response(e.code or 500, title, message, (e.name or "error").lower().replace(" ", "_"))

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_unavailable(e: Exception):
        return database_unavailable_response(e)

    # Runs before Flask-SQLAlchemy's own teardown (teardowns run in reverse order of registration).
    app.teardown_appcontext(discard_session)

    @app.errorhandler(Exception)
    def _unhandled(e: Exception):
        route = request.url_rule.rule if request.url_rule is not None else "(no route)"  # never the path: tokens
        log.exception("unhandled error on %s %s", request.method, route)
        return _error_response(
            500,
            "Something went wrong",
            "Sorry, something went wrong on our side. Nothing was changed; please try again in a moment.",
            "server_error",
        )


DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable_response(e: Exception):
    """503 when the database cannot be reached or dropped the connection mid-request.

    The transaction was rolled back by the database, so nothing of this request was kept; the pool
    checks connections before use (`pool_pre_ping`), so the next request gets a live one. The HTML
    page does not touch the database (no `current_user` in its header).
    """
    from eventsite.extensions import db

    route = request.url_rule.rule if request.url_rule is not None else "(no route)"  # never the path: tokens
    log.warning("database unavailable on %s %s: %s", request.method, route, getattr(e, "orig", e) or e)
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is gone; the session is discarded at teardown
        pass
    message = ("We could not reach our database for a moment, so this did not go through. "
               "Please try again in a few seconds; if you were registering, you will not be registered twice.")
    if wants_json():
        response = jsonify({"error": {"code": "database_unavailable", "message": message}})
    else:
        response = render_template("errors/unavailable.html", title="Back in a moment", message=message)
    return response, 503, {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}


def discard_session(exc: BaseException | None = None) -> None:
    """End the request's session even when its connection died after the response was ready.

    A transaction that only read is committed (`core.db.commit_if_only_read`: PostgreSQL then keeps
    the prepared statements); anything else still open is rolled back when the session closes. On a
    connection the database has just terminated that COMMIT or ROLLBACK fails, and the error would
    escape the app as a 500 for a request that had succeeded. Such a connection is invalidated (the
    pool replaces it) and the session dropped.
    """
    from sqlalchemy.exc import DBAPIError

    from eventsite.core.db import commit_if_only_read
    from eventsite.extensions import db

    try:
        if exc is None:
            commit_if_only_read(db.session())  # PostgreSQL keeps its prepared statements (core/db.py)
        db.session.remove()
    except DBAPIError as e:
        if not e.connection_invalidated:
            raise
        log.warning("database connection lost while ending the request: %s", getattr(e, "orig", e))
        db.session().invalidate()
        db.session.remove()
