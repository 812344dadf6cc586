"""The organizer API's blueprint, JSON bodies and errors, and its OpenAPI document. Domains add routes.

Authentication (Bearer tokens) is provided by the accounts domain through `set_authenticator`,
so that core knows no domain. Every error under /api/ is JSON of one shape:

    {"error": {"code": "invalid", "message": "...", "fields": {"name": "what is wrong"}}}

(`fields` only on 422). Domains describe their fields once with `Field` specs: `check_fields`
checks JSON types against them and `object_schema` turns them into the OpenAPI schema, so the
document and the behaviour cannot drift apart.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from eventsite.core.errors import ConflictError, DomainError, ValidationError
from eventsite.core.security import hash_token
from eventsite.extensions import csrf, db, limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _token_key() -> str:
    """Requests are counted per token (by its hash: a shared store never holds the token itself);
    without one, per client address."""
    token = _bearer_token()
    return "api-token:" + hash_token(token)[:32] if token else "api-addr:" + get_remote_address()


# Every API request counts against its token; requests refused for a missing or wrong token count
# against the client address too, so tokens cannot be guessed quickly.
limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=_token_key)(bp)
limiter.limit(lambda: current_app.config["API_AUTH_FAILURE_RATE_LIMIT"], key_func=get_remote_address,
              deduct_when=lambda response: response.status_code == 401, scope="api-auth-failures")(bp)

_authenticator: Callable[[str], object | None] | None = None
PUBLIC_ENDPOINTS = {"api.openapi"}
JSON_MIMETYPES = {"application/json", "application/merge-patch+json"}


# --- the OpenAPI document ----------------------------------------------------------------------

def _error_response(description: str, example_code: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"},
            "example": {"error": {"code": example_code, "message": description}},
        }},
    }


OPENAPI: dict = {
    "openapi": "3.1.0",
    "info": {
        "title": "eventsite organizer API",
        "version": "1.0.0",
        "description": (
            "Create and manage events and ticket types. Send JSON (`Content-Type: application/json`) "
            "with `Authorization: Bearer <token>`; create a token on the organizer settings page or "
            "with `flask --app eventsite create-api-token EMAIL`. Times are ISO 8601 with an offset "
            "on input; on output every time is given in UTC (`...Z`) and, as `<name>_local`, in the "
            "event's own time zone. Money is integer cents with a three-letter currency code."
        ),
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": {},
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API token, e.g. `evs_...`."},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "description": "Stable, machine-readable.",
                                     "examples": ["invalid", "unauthorized", "not_found"]},
                            "message": {"type": "string", "description": "For people."},
                            "fields": {
                                "type": "object",
                                "description": "On 422: each bad field of the request body and what is wrong with it.",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
        "responses": {
            "BadRequest": _error_response("The body is not valid JSON.", "bad_json"),
            "Unauthorized": _error_response("A valid API token is required.", "unauthorized"),
            "Forbidden": _error_response("Your role does not allow this.", "forbidden"),
            "NotFound": _error_response("No such resource (or not yours).", "not_found"),
            "Conflict": _error_response("The change conflicts with the resource's state.", "conflict"),
            "UnsupportedMediaType": _error_response("Send the body as application/json.", "unsupported_media_type"),
            "Unprocessable": _error_response(
                "The body is not a JSON object, or some fields are bad: `error.fields` names each.", "invalid"
            ),
        },
    },
}


def document(path: str, method: str, operation: dict) -> None:
    """Describe one operation. `path` uses OpenAPI's `{name}` form, e.g. /api/v1/events/{slug}."""
    OPENAPI["paths"].setdefault(path, {})[method.lower()] = operation


def add_schema(name: str, schema: dict) -> dict:
    """Register a component schema and return a `$ref` to it."""
    OPENAPI["components"]["schemas"][name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def error_responses(*statuses: int) -> dict:
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
             415: "UnsupportedMediaType", 422: "Unprocessable"}
    return {str(s): {"$ref": f"#/components/responses/{names[s]}"} for s in statuses}


def json_request_body(ref: dict, description: str = "") -> dict:
    return {"required": True, "description": description, "content": {"application/json": {"schema": ref}}}


def json_response(ref: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ref}}}


# --- field specs: JSON type checks and schemas from one description ----------------------------

JSON_TYPES = {"string": "a string", "integer": "an integer", "boolean": "true or false", "date-time": "a string"}


@dataclass(frozen=True)
class Field:
    """One field of a JSON body. `type` is string, integer, boolean or date-time (an ISO 8601 string)."""

    type: str
    description: str = ""
    nullable: bool = False
    schema: dict = field(default_factory=dict)  # extra JSON Schema keywords (maxLength, enum, ...)

    def type_error(self, value) -> str | None:
        if value is None:
            return None if self.nullable else "Must not be null."
        ok = {
            "string": isinstance(value, str),
            "date-time": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
        }[self.type]
        if ok:
            return None
        if self.type == "date-time":
            return "Must be a string: an ISO 8601 date and time with an offset, e.g. 2027-03-08T18:30:00+01:00."
        return f"Must be {JSON_TYPES[self.type]}."

    def json_schema(self) -> dict:
        base = {"type": "string", "format": "date-time"} if self.type == "date-time" else {"type": self.type}
        if self.nullable:
            base["type"] = [base["type"], "null"]
        out = {**base, **self.schema}
        if self.description:
            out["description"] = self.description
        return out


def object_schema(fields: Mapping[str, Field], *, required: tuple[str, ...] = (), description: str = "") -> dict:
    schema: dict = {
        "type": "object",
        "properties": {name: f.json_schema() for name, f in fields.items()},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def check_fields(body: dict, fields: Mapping[str, Field], *, read_only: frozenset[str] = frozenset()):
    """Split a body into the well-typed known fields and errors for the others: (data, errors)."""
    data: dict = {}
    errors: dict[str, str] = {}
    for name, value in body.items():
        spec = fields.get(name)
        if spec is None:
            errors[name] = "This field is read-only." if name in read_only else "Unknown field."
        elif (problem := spec.type_error(value)) is not None:
            errors[name] = problem
        else:
            data[name] = value
    return data, errors


# --- requests ----------------------------------------------------------------------------------

class BadRequestBody(DomainError):
    code = "bad_json"
    status = 400


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def json_object() -> dict:
    """The request body as a JSON object: 415 if not sent as JSON, 400 if unparseable, 422 if not an object."""
    if request.mimetype not in JSON_MIMETYPES and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaType("Send the body as JSON with the header Content-Type: application/json.")
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        json.dumps(body, ensure_ascii=False).encode("utf-8")  # lone surrogates ("\ud800") are not text
    except (UnicodeError, ValueError, RecursionError):
        raise BadRequestBody("The body is not valid JSON (UTF-8). Check quotes, commas and brackets.") from None
    if not isinstance(body, dict):
        raise ValidationError({"__all__": "The body must be a JSON object, e.g. {\"title\": \"...\"}."})
    return body


def set_authenticator(fn: Callable[[str], object | None]) -> None:
    """fn(token) returns the user the token belongs to, or None."""
    global _authenticator
    _authenticator = fn


def api_user():
    return g.api_user


def commit_or_retry(work: Callable[[], object], attempts: int = 3):
    """Run `work` (one service call) and commit once. If a concurrent request won a unique or check
    constraint (say, the same generated slug), roll back and run it again: the service then sees the
    other row and answers properly (a new slug, or a 422)."""
    for attempt in range(attempts):
        try:
            result = work()
            db.session.commit()
            return result
        except IntegrityError:
            db.session.rollback()
            if attempt == attempts - 1:
                raise ConflictError("Another change got in the way; please try again.") from None
    raise AssertionError("unreachable")  # pragma: no cover


def json_error(status: int, code: str, message: str, fields: dict[str, str] | None = None):
    body: dict = {"error": {"code": code, "message": message}}
    if fields is not None:
        body["error"]["fields"] = fields
    return jsonify(body), status


@bp.before_request
def _authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    user = None
    if _authenticator and scheme.lower() == "bearer" and token and " " not in token:
        user = _authenticator(token)
    if user is None:
        response, status = json_error(401, "unauthorized", "A valid API token is required (Authorization: Bearer <token>).")
        response.headers["WWW-Authenticate"] = 'Bearer realm="eventsite"'
        return response, status
    g.api_user = user
    return None


@bp.errorhandler(DomainError)
def _domain_error(e: DomainError):
    db.session.rollback()
    if isinstance(e, ValidationError):
        fields = {k: v for k, v in e.errors.items() if k != "__all__"}
        message = e.errors.get("__all__") or "Some fields are not valid: " + ", ".join(fields) + "."
        return json_error(422, "invalid", message, fields)
    status = e.status if 400 <= e.status < 500 else 400
    return json_error(status, e.code, e.message)


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException):
    db.session.rollback()
    code = (e.name or "error").lower().replace(" ", "_")
    response, status = json_error(e.code or 500, code, e.description or e.name)
    if e.code == 405 and getattr(e, "valid_methods", None):
        response.headers["Allow"] = ", ".join(e.valid_methods)
    return response, status


@bp.after_app_request
def _allow_header(response: Response) -> Response:
    """A 405 under /api/ (raised while routing, before any blueprint handler) says what is allowed."""
    if response.status_code == 405 and request.path.startswith("/api/") and "Allow" not in response.headers:
        methods = getattr(request.routing_exception, "valid_methods", None)
        if methods:
            response.headers["Allow"] = ", ".join(sorted(methods))
    return response


@bp.get("/openapi.json")
def openapi():
    response = jsonify(OPENAPI)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


document("/api/v1/openapi.json", "get", {
    "operationId": "getOpenAPI",
    "summary": "This document",
    "security": [],
    "tags": ["meta"],
    "responses": {"200": {"description": "The OpenAPI 3.1 description of this API.",
                          "content": {"application/json": {"schema": {"type": "object"}}}}},
})
