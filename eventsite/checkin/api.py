"""Organizer API: POST /api/v1/events/<slug>/checkins, the door's scan for other scanning apps.

Same rules and answers as the check-in screen (`checkin.services.check_in`): `result` is ok,
already_checked_in, cancelled, unpaid, wrong_event or unknown. 201 when the scan was recorded
(whatever its result: the answer says whether to admit), 200 when `request_id` was seen before
(the original answer; nothing new recorded). Owners, organizers, and check-in staff assigned to the
event may scan.
"""
from __future__ import annotations

import json

from flask import jsonify, request

from eventsite.checkin import codes, services
from eventsite.core import api
from eventsite.core.api import Field, bp, check_fields
from eventsite.core.db import run_in_transaction
from eventsite.core.errors import NotFoundError, ValidationError
from eventsite.events.access import DOOR, event_for

CHECKIN_FIELDS: dict[str, Field] = {
    "secret": Field("string", "What the ticket's QR code holds (spaces, dashes and case are ignored). Any other "
                              "text is answered `unknown`.", schema={"examples": ["7KQ2M9XPA3RTW4HV5NB8CJ6DFE"]}),
    "door": Field("string", "The door's label, shown in the log and to the other doors.", nullable=True,
                  schema={"maxLength": codes.DOOR_MAX, "examples": ["Main entrance"]}),
    "request_id": Field("string", "Your id for this request, new for each scan (a UUID): sending the same id "
                                  "again answers the original answer and records nothing.", nullable=True,
                        schema={"pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$"}),
}


def _body() -> dict:
    """A JSON object, as `api.json_object` but lenient about bytes that are not UTF-8: they become
    U+FFFD inside the secret, which is then `unknown` (a scanner's garbage is not a client error)."""
    if request.mimetype not in api.JSON_MIMETYPES and not request.mimetype.endswith("+json"):
        raise api.UnsupportedMediaType("Send the body as JSON with the header Content-Type: application/json.")
    try:
        body = json.loads(request.get_data(cache=True).decode("utf-8", errors="replace"),
                          parse_constant=api._reject_constant)
    except (ValueError, RecursionError):
        raise api.BadRequestBody("The body is not valid JSON. Check quotes, commas and brackets.") from None
    if not isinstance(body, dict):
        raise ValidationError({"__all__": 'The body must be a JSON object, e.g. {"secret": "..."}.'})
    return body


@bp.post("/events/<slug>/checkins")
def create_checkin(slug: str):
    if len(slug) > 120 or "\x00" in slug:
        raise NotFoundError("No such event.")
    user = api.api_user()
    event = event_for(user, slug, roles=DOOR)
    data, errors = check_fields(_body(), CHECKIN_FIELDS)
    if "secret" not in data and "secret" not in errors:
        errors["secret"] = "Required: the ticket's code."
    if errors:
        raise ValidationError(errors)
    outcome = run_in_transaction(lambda: services.check_in(
        data["secret"], event=event, staff=user, door=data.get("door"), request_id=data.get("request_id"),
        method="api"))
    response = jsonify(outcome.to_json())
    response.status_code = 200 if outcome.replayed else 201
    return response


# --- the OpenAPI description -------------------------------------------------------------------

RESULTS = ["ok", "already_checked_in", "cancelled", "unpaid", "wrong_event", "unknown"]

CHECKIN_CREATE_REF = api.add_schema("CheckinCreate", api.object_schema(
    CHECKIN_FIELDS, required=("secret",), description="One scan at the door.",
))
CHECKIN_RESULT_REF = api.add_schema("CheckinResult", {
    "type": "object",
    "required": ["result", "admit", "headline", "detail", "replayed", "scan_id", "ticket", "checked_in_at",
                 "checked_in_at_local", "checked_in_door", "checked_in_by", "other_event"],
    "properties": {
        "result": {"type": "string", "enum": RESULTS,
                   "description": "ok: admit. already_checked_in: it was admitted before (see checked_in_*). "
                                  "cancelled, unpaid, wrong_event (another event's ticket), unknown (no such "
                                  "ticket): do not admit."},
        "admit": {"type": "boolean", "description": "True only for ok."},
        "headline": {"type": "string", "description": "What the door screen shows in big letters."},
        "detail": {"type": "string", "description": "The sentence under it."},
        "replayed": {"type": "boolean", "description": "True if request_id was seen before: the original answer."},
        "scan_id": {"type": ["integer", "null"], "description": "The scan log's row."},
        "ticket": {
            "type": ["object", "null"],
            "description": "The ticket, when it is one of this event's.",
            "required": ["id", "attendee_name", "ticket_type", "order_code", "door_answers"],
            "properties": {
                "id": {"type": "integer"},
                "attendee_name": {"type": "string"},
                "ticket_type": {"type": "string"},
                "order_code": {"type": "string"},
                "door_answers": {
                    "type": "array",
                    "description": "Answers to the questions the organizer chose to show at the door (ok only).",
                    "items": {"type": "object", "required": ["question", "answer"],
                              "properties": {"question": {"type": "string"}, "answer": {"type": "string"}}},
                },
            },
        },
        "checked_in_at": {"type": ["string", "null"], "format": "date-time",
                          "description": "ok and already_checked_in: when it was checked in, UTC."},
        "checked_in_at_local": {"type": ["string", "null"], "description": "The same, HH:MM in the event's zone."},
        "checked_in_door": {"type": ["string", "null"]},
        "checked_in_by": {"type": ["string", "null"], "description": "Who checked it in."},
        "other_event": {"type": ["string", "null"],
                        "description": "wrong_event: the other event's title, if it is your organization's."},
    },
})

api.document("/api/v1/events/{slug}/checkins", "post", {
    "operationId": "createCheckin", "tags": ["check-in"],
    "summary": "Scan a ticket at the door: admit it once, or say why not",
    "description": "Two doors scanning one ticket at the same moment get one `ok` and one `already_checked_in`. "
                   "Every scan is logged. Owners, organizers and the event's check-in staff may call it.",
    "parameters": [{"name": "slug", "in": "path", "required": True, "description": "The event's slug.",
                    "schema": {"type": "string"}}],
    "requestBody": api.json_request_body(CHECKIN_CREATE_REF),
    "responses": {
        "201": api.json_response(CHECKIN_RESULT_REF, "The scan was recorded; `result` says whether to admit."),
        "200": api.json_response(CHECKIN_RESULT_REF, "`request_id` was seen before: the original answer, nothing recorded."),
        **api.error_responses(400, 401, 403, 404, 415, 422),
    },
})
