"""What the organizer API takes and gives for events and ticket types: the field specs the views
(`events.api`) check JSON bodies against, and the OpenAPI description built from the same specs,
so what is documented is what is checked. Importing `events.api` imports this module, which adds
the schemas and paths to the API's description (`core.api`).
"""
from __future__ import annotations

from eventsite.core import api
from eventsite.core.api import Field

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
