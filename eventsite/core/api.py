"""The organizer API's blueprint, JSON errors and OpenAPI document. Domains add their routes.

Authentication (Bearer tokens) is provided by the accounts domain through `set_authenticator`,
so that core knows no domain.
"""
from __future__ import annotations

from typing import Callable

from flask import Blueprint, g, jsonify, request

from eventsite.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

_authenticator: Callable[[str], object | None] | None = None
PUBLIC_ENDPOINTS = {"api.openapi"}

OPENAPI: dict = {
    "openapi": "3.1.0",
    "info": {"title": "eventsite organizer API", "version": "1.0.0"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {},
    },
    "security": [{"bearer": []}],
    "paths": {},
}


def set_authenticator(fn: Callable[[str], object | None]) -> None:
    """fn(token) returns the user the token belongs to, or None."""
    global _authenticator
    _authenticator = fn


def document(path: str, method: str, operation: dict) -> None:
    OPENAPI["paths"].setdefault(path, {})[method.lower()] = operation


def json_error(status: int, code: str, message: str, fields: dict[str, str] | None = None):
    body: dict = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def api_user():
    return g.api_user


@bp.before_request
def _authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = _authenticator(token.strip()) if (_authenticator and scheme.lower() == "bearer" and token.strip()) else None
    if user is None:
        response, status = json_error(401, "unauthorized", "A valid API token is required (Authorization: Bearer <token>).")
        response.headers["WWW-Authenticate"] = 'Bearer realm="eventsite"'
        return response, status
    g.api_user = user
    return None


@bp.get("/openapi.json")
def openapi():
    return jsonify(OPENAPI)
