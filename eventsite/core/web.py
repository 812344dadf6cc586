"""App-wide web glue: error pages, template filters and globals."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from eventsite.core.errors import DomainError
from eventsite.core.text import format_local, format_money, render_markdown

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/stripe/") or (
        request.accept_mimetypes.best == "application/json"
    )


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

    @app.errorhandler(Exception)
    def _unhandled(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error_response(
            500,
            "Something went wrong",
            "Sorry, something went wrong on our side. Nothing was changed; please try again in a moment.",
            "server_error",
        )
