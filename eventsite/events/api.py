"""Organizer API for events and ticket types: thin JSON views over `events.services`.

Each view: authenticate (the blueprint does it), find the event with `access.event_for`, read the
JSON body, check JSON types against the field specs below, call ONE service, commit once, answer.
The same specs produce the OpenAPI schemas, so what is documented is what is checked.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, jsonify, request, url_for

from eventsite.core import api
from eventsite.core.api import Field, bp, check_fields, json_object
from eventsite.core.errors import NotFoundError, ValidationError
from eventsite.events import services, validation
from eventsite.events.access import event_for
from eventsite.events.models import Event, EventStatus, TicketType

# --- fields ------------------------------------------------------------------------------------

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
CURRENCY = {"pattern": "^[A-Za-z]{3}$", "examples": ["EUR"]}
DATE_TIME_HELP = "ISO 8601 with an offset, e.g. 2027-03-08T18:30:00+01:00."

EVENT_FIELDS: dict[str, Field] = {
    "title": Field("string", "The event's name.", schema={"minLength": 1, "maxLength": 200}),
    "slug": Field("string", "Its address: /events/<slug>. Generated from the title when left out.",
                  nullable=True, schema={"maxLength": 120, "pattern": SLUG_PATTERN}),
    "summary": Field("string", "One line shown in lists.", nullable=True, schema={"maxLength": 300}),
    "description": Field("string", "Markdown.", nullable=True, schema={"maxLength": 20_000}),
    "starts_at": Field("date-time", "Start, " + DATE_TIME_HELP),
    "ends_at": Field("date-time", "End, after the start; " + DATE_TIME_HELP),
    "timezone": Field("string", "IANA time zone the event is shown in.", schema={"examples": ["Europe/Berlin"]}),
    "venue": Field("string", "The venue's name (same as venue_name).", nullable=True, schema={"maxLength": 200}),
    "venue_name": Field("string", "The venue's name.", nullable=True, schema={"maxLength": 200}),
    "venue_address": Field("string", "The venue's address.", nullable=True, schema={"maxLength": 500}),
    "online_url": Field("string", "Link for an online event (https://...).", nullable=True,
                        schema={"format": "uri", "maxLength": 500}),
    "capacity": Field("integer", "Optional cap on tickets over all ticket types.", nullable=True,
                      schema={"minimum": 0, "maximum": 1_000_000}),
    "currency": Field("string", "Default currency of new ticket types (default USD).", nullable=True, schema=CURRENCY),
    "registration_opens_at": Field("date-time", "When registration opens; " + DATE_TIME_HELP, nullable=True),
    "registration_closes_at": Field("date-time", "When registration closes; " + DATE_TIME_HELP, nullable=True),
    "terms_url": Field("string", "The organizer's terms and conditions (https://...). When set, registering "
                       "needs consent to them, and each order records when she agreed. Empty or null: none.",
                       nullable=True, schema={"pattern": "^(https?://.+)?$", "maxLength": 500}),
    "hold_minutes": Field("integer", "How long a paid order's seats are held while the buyer pays "
                          "(null: the site's default, 30 minutes).", nullable=True,
                          schema={"minimum": 5, "maximum": 1440}),
    "refund_until_days_before": Field("integer", "Refund policy: a full refund when an attendee cancels at least "
                                      "this many days before the start (0: until the start); null: cancelling "
                                      "refunds nothing.", nullable=True, schema={"minimum": 0, "maximum": 365}),
}
CREATE_EVENT_FIELDS = {
    **EVENT_FIELDS,
    "status": Field("string", "draft (default) or published; an event may be published before it has ticket types.",
                    schema={"enum": ["draft", "published"]}),
    "organization": Field("string", "Slug of the organization, needed only when you are owner or organizer of several."),
}
UPDATE_EVENT_FIELDS = {
    **EVENT_FIELDS,
    "status": Field("string", "draft, published or cancelled (a cancelled event stays cancelled).",
                    schema={"enum": ["draft", "published", "cancelled"]}),
}
EVENT_TIMES = ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at")
EVENT_READ_ONLY = frozenset({
    "id", "url", "organization", "sold", "ticket_types", "created_at", "updated_at",
    *(f"{name}_local" for name in EVENT_TIMES),
})

TICKET_TYPE_FIELDS: dict[str, Field] = {
    "name": Field("string", "E.g. General admission.", schema={"minLength": 1, "maxLength": 120}),
    "description": Field("string", nullable=True, schema={"maxLength": 500}),
    "price_cents": Field("integer", "Price in cents (0 for free).", schema={"minimum": 0, "maximum": 100_000_000}),
    "currency": Field("string", "Defaults to the event's currency.", nullable=True, schema=CURRENCY),
    "capacity": Field("integer", "How many tickets of this type exist.", schema={"minimum": 0, "maximum": 1_000_000}),
    "max_per_order": Field("integer", "At most this many in one order (default 10).", nullable=True,
                           schema={"minimum": 1, "maximum": 100}),
    "sales_start": Field("date-time", "Sales open; " + DATE_TIME_HELP, nullable=True),
    "sales_end": Field("date-time", "Sales close; " + DATE_TIME_HELP, nullable=True),
    "hidden": Field("boolean", "Hidden types are not offered on the public page."),
    "position": Field("integer", "Order on the page, lowest first.", schema={"minimum": 0, "maximum": 10_000}),
}
TICKET_TYPE_TIMES = ("sales_start", "sales_end")
TICKET_TYPE_READ_ONLY = frozenset({"id", "sold", "remaining", *(f"{name}_local" for name in TICKET_TYPE_TIMES)})


# --- JSON out ----------------------------------------------------------------------------------

def _utc(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _local(dt: datetime | None, tz: ZoneInfo) -> str | None:
    return None if dt is None else dt.astimezone(tz).isoformat()


def _times(obj, names: tuple[str, ...], tz: ZoneInfo) -> dict:
    out: dict = {}
    for name in names:
        out[name] = _utc(getattr(obj, name))
        out[f"{name}_local"] = _local(getattr(obj, name), tz)
    return out


def ticket_type_json(tt: TicketType, tz: ZoneInfo) -> dict:
    return {
        "id": tt.id, "name": tt.name, "description": tt.description, "price_cents": tt.price_cents,
        "currency": tt.currency, "capacity": tt.capacity, "sold": tt.sold, "remaining": tt.remaining,
        "max_per_order": tt.max_per_order, "hidden": tt.hidden, "position": tt.position,
        **_times(tt, TICKET_TYPE_TIMES, tz),
    }


def event_url(event: Event) -> str:
    """The public page, /events/<slug>, on the site's configured address."""
    return current_app.config["EVENTSITE_BASE_URL"].rstrip("/") + "/events/" + event.slug


def event_json(event: Event) -> dict:
    tz = event.tz
    return {
        "id": event.id, "slug": event.slug, "url": event_url(event), "organization": event.organization.slug,
        "status": EventStatus(event.status).value, "title": event.title, "summary": event.summary,
        "description": event.description, "timezone": event.timezone,
        **_times(event, EVENT_TIMES, tz),
        "venue_name": event.venue_name, "venue_address": event.venue_address, "online_url": event.online_url,
        "capacity": event.capacity, "sold": event.sold, "currency": event.currency,
        "terms_url": event.terms_url or "", "hold_minutes": event.hold_minutes,
        "refund_until_days_before": event.refund_until_days_before,
        "ticket_types": [ticket_type_json(tt, tz) for tt in event.ticket_types],
        "created_at": _utc(event.created_at), "updated_at": _utc(event.updated_at),
    }


# --- request helpers ---------------------------------------------------------------------------

def _event(slug: str) -> Event:
    if len(slug) > 120 or "\x00" in slug:  # no such slug can exist; don't send it to the database
        raise NotFoundError("No such event.")
    return event_for(api.api_user(), slug)


def _ticket_type(event: Event, ticket_type_id: int) -> TicketType:
    tt = next((t for t in event.ticket_types if t.id == ticket_type_id), None)
    if tt is None:
        raise NotFoundError("No such ticket type for this event.")
    return tt


def _event_input(body: dict, fields: dict[str, Field]) -> tuple[dict, dict, dict]:
    """(data for the services, errors so far, how to rename the services' field names back)."""
    data, errors = check_fields(body, fields, read_only=EVENT_READ_ONLY)
    rename: dict[str, str] = {}
    if "venue" in data:
        venue = data.pop("venue")
        if "venue_name" in data and data["venue_name"] != venue:
            errors["venue"] = "Give venue or venue_name, not both."
        else:
            data["venue_name"] = venue
            rename["venue_name"] = "venue"
    return data, errors, rename


def _save(work: Callable[[], object], *, errors: dict, check: Callable[[], object], rename: dict | None = None):
    """Run `work` (one service call) and commit, unless `errors` were found already: then only
    `check` the rest with the service's own rules, so one answer names every bad field."""
    rename = rename or {}
    try:
        if not errors:
            return api.commit_or_retry(work)
        check()
    except ValidationError as e:
        errors = {**{rename.get(k, k): v for k, v in e.errors.items()}, **errors}
    raise ValidationError(errors)


def _created(payload: dict, location: str):
    response = jsonify(payload)
    response.status_code = 201
    response.headers["Location"] = location
    return response


# --- events ------------------------------------------------------------------------------------

@bp.post("/events")
def create_event():
    user = api.api_user()
    data, errors, rename = _event_input(json_object(), CREATE_EVENT_FIELDS)
    organization_id = None
    try:
        organization_id = services.organization_for_new_event(user, data.pop("organization", None))
    except ValidationError as e:
        errors = {**e.errors, **errors}
    event = _save(lambda: services.create_event(organization_id, data, actor=user), errors=errors,
                  check=lambda: validation.validate_event(data), rename=rename)
    return _created(event_json(event), url_for("api.get_event", slug=event.slug))


@bp.get("/events")
def list_events():
    status = request.args.get("status")
    if status is not None and status not in {s.value for s in EventStatus}:
        raise ValidationError({"status": "Must be one of: draft, published, cancelled."})
    events = services.events_managed_by(api.api_user(), status=EventStatus(status) if status else None)
    return jsonify({"events": [event_json(e) for e in events]})


@bp.get("/events/<slug>")
def get_event(slug: str):
    return jsonify(event_json(_event(slug)))


@bp.patch("/events/<slug>")
def update_event(slug: str):
    event = _event(slug)
    data, errors, rename = _event_input(json_object(), UPDATE_EVENT_FIELDS)
    _save(lambda: services.update_event(event, data, actor=api.api_user()), errors=errors,
          check=lambda: validation.validate_event(data, current=event), rename=rename)
    return jsonify(event_json(event))


# --- ticket types ------------------------------------------------------------------------------

@bp.get("/events/<slug>/ticket-types")
def list_ticket_types(slug: str):
    event = _event(slug)
    return jsonify({"ticket_types": [ticket_type_json(tt, event.tz) for tt in event.ticket_types]})


@bp.post("/events/<slug>/ticket-types")
def create_ticket_type(slug: str):
    event = _event(slug)
    data, errors = check_fields(json_object(), TICKET_TYPE_FIELDS, read_only=TICKET_TYPE_READ_ONLY)
    tt = _save(lambda: services.add_ticket_type(event, data, actor=api.api_user()), errors=errors,
               check=lambda: validation.validate_ticket_type(event, data))
    location = url_for("api.get_ticket_type", slug=event.slug, ticket_type_id=tt.id)
    return _created(ticket_type_json(tt, event.tz), location)


@bp.get("/events/<slug>/ticket-types/<int:ticket_type_id>")
def get_ticket_type(slug: str, ticket_type_id: int):
    event = _event(slug)
    return jsonify(ticket_type_json(_ticket_type(event, ticket_type_id), event.tz))


@bp.patch("/events/<slug>/ticket-types/<int:ticket_type_id>")
def update_ticket_type(slug: str, ticket_type_id: int):
    event = _event(slug)
    tt = _ticket_type(event, ticket_type_id)
    data, errors = check_fields(json_object(), TICKET_TYPE_FIELDS, read_only=TICKET_TYPE_READ_ONLY)
    _save(lambda: services.update_ticket_type(tt, data, actor=api.api_user()), errors=errors,
          check=lambda: validation.validate_ticket_type(event, data, current=tt))
    return jsonify(ticket_type_json(tt, event.tz))


# --- the OpenAPI description -------------------------------------------------------------------

def _nullable_time(description: str) -> dict:
    return {"type": ["string", "null"], "format": "date-time", "description": description}


def _output_times(names: tuple[str, ...], nullable: tuple[str, ...]) -> dict:
    out: dict = {}
    for name in names:
        kind = ["string", "null"] if name in nullable else "string"
        out[name] = {"type": kind, "format": "date-time", "description": "In UTC, e.g. 2027-03-08T17:30:00Z."}
        out[f"{name}_local"] = {"type": kind, "format": "date-time",
                                "description": "The same moment in the event's time zone, e.g. 2027-03-08T18:30:00+01:00."}
    return out


TICKET_TYPE_REF = api.add_schema("TicketType", {
    "type": "object",
    "required": ["id", "name", "description", "price_cents", "currency", "capacity", "sold", "remaining",
                 "max_per_order", "hidden", "position", *TICKET_TYPE_TIMES,
                 *(f"{n}_local" for n in TICKET_TYPE_TIMES)],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "price_cents": {"type": "integer", "minimum": 0},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "capacity": {"type": "integer", "minimum": 0},
        "sold": {"type": "integer", "minimum": 0},
        "remaining": {"type": "integer", "minimum": 0},
        "max_per_order": {"type": "integer", "minimum": 1},
        "hidden": {"type": "boolean"},
        "position": {"type": "integer"},
        **_output_times(TICKET_TYPE_TIMES, nullable=TICKET_TYPE_TIMES),
    },
})

EVENT_REF = api.add_schema("Event", {
    "type": "object",
    "required": ["id", "slug", "url", "organization", "status", "title", "summary", "description", "timezone",
                 *EVENT_TIMES, *(f"{n}_local" for n in EVENT_TIMES), "venue_name", "venue_address",
                 "online_url", "capacity", "sold", "currency", "terms_url", "hold_minutes",
                 "refund_until_days_before", "ticket_types", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "integer"},
        "slug": {"type": "string", "pattern": SLUG_PATTERN},
        "url": {"type": "string", "format": "uri", "description": "The public event page."},
        "organization": {"type": "string", "description": "The organization's slug."},
        "status": {"type": "string", "enum": ["draft", "published", "cancelled"]},
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "description": {"type": "string", "description": "Markdown."},
        "timezone": {"type": "string", "description": "IANA time zone."},
        **_output_times(EVENT_TIMES, nullable=("registration_opens_at", "registration_closes_at")),
        "venue_name": {"type": "string"},
        "venue_address": {"type": "string"},
        "online_url": {"type": "string"},
        "capacity": {"type": ["integer", "null"]},
        "sold": {"type": "integer"},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "terms_url": {"type": "string", "description": "The organizer's terms and conditions; empty: none."},
        "hold_minutes": {"type": ["integer", "null"], "minimum": 5, "maximum": 1440,
                         "description": "Seat hold while paying, in minutes; null: the site's default."},
        "refund_until_days_before": {"type": ["integer", "null"], "minimum": 0, "maximum": 365,
                                     "description": "Full refund until this many days before the start; "
                                                    "null: no refund."},
        "ticket_types": {"type": "array", "items": TICKET_TYPE_REF},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
})

EVENT_CREATE_REF = api.add_schema("EventCreate", api.object_schema(
    CREATE_EVENT_FIELDS, required=("title", "starts_at", "ends_at", "timezone"),
    description="A new event. Unknown fields are refused (422).",
))
EVENT_UPDATE_REF = api.add_schema("EventUpdate", api.object_schema(
    UPDATE_EVENT_FIELDS, description="Any fields to change. Times may move at any moment, into the past too.",
))
TICKET_TYPE_CREATE_REF = api.add_schema("TicketTypeCreate", api.object_schema(
    TICKET_TYPE_FIELDS, required=("name", "price_cents", "capacity"), description="A new ticket type.",
))
TICKET_TYPE_UPDATE_REF = api.add_schema("TicketTypeUpdate", api.object_schema(
    TICKET_TYPE_FIELDS, description="Any fields to change. The price is fixed once tickets are sold.",
))
EVENT_LIST_REF = api.add_schema("EventList", {
    "type": "object", "required": ["events"], "properties": {"events": {"type": "array", "items": EVENT_REF}},
})
TICKET_TYPE_LIST_REF = api.add_schema("TicketTypeList", {
    "type": "object", "required": ["ticket_types"],
    "properties": {"ticket_types": {"type": "array", "items": TICKET_TYPE_REF}},
})

SLUG_PARAM = {"name": "slug", "in": "path", "required": True, "description": "The event's slug.",
              "schema": {"type": "string"}}
TICKET_TYPE_PARAM = {"name": "ticket_type_id", "in": "path", "required": True, "schema": {"type": "integer"}}
LOCATION = {"Location": {"description": "Where the new resource is.", "schema": {"type": "string"}}}

api.document("/api/v1/events", "post", {
    "operationId": "createEvent", "tags": ["events"], "summary": "Create an event (draft or published)",
    "requestBody": api.json_request_body(EVENT_CREATE_REF),
    "responses": {"201": {**api.json_response(EVENT_REF, "The new event, with its slug and public url."),
                          "headers": LOCATION},
                  **api.error_responses(400, 401, 403, 409, 415, 422)},
})
api.document("/api/v1/events", "get", {
    "operationId": "listEvents", "tags": ["events"],
    "summary": "Events of the organizations where you are owner or organizer, soonest first",
    "parameters": [{"name": "status", "in": "query", "required": False,
                    "schema": {"type": "string", "enum": ["draft", "published", "cancelled"]}}],
    "responses": {"200": api.json_response(EVENT_LIST_REF, "Your events."), **api.error_responses(401, 422)},
})
api.document("/api/v1/events/{slug}", "get", {
    "operationId": "getEvent", "tags": ["events"], "summary": "One event with its ticket types",
    "parameters": [SLUG_PARAM],
    "responses": {"200": api.json_response(EVENT_REF, "The event."), **api.error_responses(401, 403, 404)},
})
api.document("/api/v1/events/{slug}", "patch", {
    "operationId": "updateEvent", "tags": ["events"],
    "summary": "Change an event: any fields, its status (draft, published, cancelled), its times (into the past too)",
    "parameters": [SLUG_PARAM],
    "requestBody": api.json_request_body(EVENT_UPDATE_REF),
    "responses": {"200": api.json_response(EVENT_REF, "The changed event."),
                  **api.error_responses(400, 401, 403, 404, 409, 415, 422)},
})
api.document("/api/v1/events/{slug}/ticket-types", "get", {
    "operationId": "listTicketTypes", "tags": ["ticket types"], "summary": "The event's ticket types, in order",
    "parameters": [SLUG_PARAM],
    "responses": {"200": api.json_response(TICKET_TYPE_LIST_REF, "Its ticket types."),
                  **api.error_responses(401, 403, 404)},
})
api.document("/api/v1/events/{slug}/ticket-types", "post", {
    "operationId": "createTicketType", "tags": ["ticket types"], "summary": "Add a ticket type",
    "parameters": [SLUG_PARAM],
    "requestBody": api.json_request_body(TICKET_TYPE_CREATE_REF),
    "responses": {"201": {**api.json_response(TICKET_TYPE_REF, "The new ticket type, with its id."),
                          "headers": LOCATION},
                  **api.error_responses(400, 401, 403, 404, 409, 415, 422)},
})
api.document("/api/v1/events/{slug}/ticket-types/{ticket_type_id}", "get", {
    "operationId": "getTicketType", "tags": ["ticket types"], "summary": "One ticket type",
    "parameters": [SLUG_PARAM, TICKET_TYPE_PARAM],
    "responses": {"200": api.json_response(TICKET_TYPE_REF, "The ticket type."),
                  **api.error_responses(401, 403, 404)},
})
api.document("/api/v1/events/{slug}/ticket-types/{ticket_type_id}", "patch", {
    "operationId": "updateTicketType", "tags": ["ticket types"], "summary": "Change a ticket type",
    "parameters": [SLUG_PARAM, TICKET_TYPE_PARAM],
    "requestBody": api.json_request_body(TICKET_TYPE_UPDATE_REF),
    "responses": {"200": api.json_response(TICKET_TYPE_REF, "The changed ticket type."),
                  **api.error_responses(400, 401, 403, 404, 409, 415, 422)},
})
