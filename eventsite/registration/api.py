"""Organizer API for an event's tickets and orders: read-only JSON lists, paginated.

Same style as `events/api.py`: the API blueprint authenticates the Bearer token, `access.event_for`
finds the event (404 outside the organization, 403 for door staff), errors have the API's one JSON
shape, and the OpenAPI document is written next to the views.

Pagination: `?page=` (from 1) and `?per_page=` (default 100, at most 500), oldest first by id. The
answer carries `page`, `per_page`, `total` and `next`, the absolute URL of the next page (null on
the last), also sent as a `Link: <...>; rel="next"` header. Tickets and orders are never deleted
(cancelling changes their status), so a page always holds the same rows: a client paging while
people register finds the newcomers on the last pages and never sees a row twice.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import jsonify, request, url_for

from eventsite.core import api
from eventsite.core.api import bp
from eventsite.core.errors import NotFoundError
from eventsite.events.access import event_for
from eventsite.events.models import Event
from eventsite.registration import reports
from eventsite.registration.models import OrderSource, OrderStatus, TicketStatus


def _utc(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _local(dt: datetime | None, event: Event) -> str | None:
    return None if dt is None else dt.astimezone(event.tz).isoformat()


def _event(slug: str) -> Event:
    if len(slug) > 120 or "\x00" in slug:
        raise NotFoundError("No such event.")
    return event_for(api.api_user(), slug)


def ticket_json(row: reports.RegistrationRow, event: Event) -> dict:
    return {
        "id": row.ticket_id,
        "secret": row.secret,
        "status": row.ticket_status.value,
        "order_status": row.order_status.value,
        "attendee_name": row.attendee_name,
        "attendee_email": row.attendee_email,
        "checked_in_at": _utc(row.checked_in_at),
        "checked_in_at_local": _local(row.checked_in_at, event),
        "ticket_type_id": row.ticket_type_id,
        "ticket_type": row.ticket_type,
        "order_code": row.order_code,
        "price_cents": row.price_cents,
        "currency": row.currency,
        "created_at": _utc(row.registered_at),
        "created_at_local": _local(row.registered_at, event),
    }


def order_json(item: reports.OrderRow, event: Event) -> dict:
    o = item.order
    return {
        "id": o.id, "code": o.code, "buyer_name": o.buyer_name, "buyer_email": o.buyer_email,
        "status": OrderStatus(o.status).value, "source": OrderSource(o.source).value,
        "total_cents": o.total_cents, "currency": o.currency,
        "tickets_count": item.tickets_count, "valid_tickets_count": item.valid_tickets_count,
        "created_at": _utc(o.created_at), "created_at_local": _local(o.created_at, event),
        "confirmed_at": _utc(o.confirmed_at), "cancelled_at": _utc(o.cancelled_at),
    }


def _page_answer(key: str, items: list, total: int, page: int, per_page: int, endpoint: str, slug: str):
    has_next = page * per_page < total
    next_url = url_for(endpoint, slug=slug, page=page + 1, per_page=per_page, _external=True) if has_next else None
    response = jsonify({key: items, "page": page, "per_page": per_page, "total": total, "next": next_url})
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


@bp.get("/events/<slug>/tickets")
def list_tickets(slug: str):
    event = _event(slug)
    page, per_page = reports.parse_api_page(request.args)
    rows, total = reports.tickets_page(event, page, per_page)
    return _page_answer("tickets", [ticket_json(r, event) for r in rows], total, page, per_page,
                        "api.list_tickets", event.slug)


@bp.get("/events/<slug>/orders")
def list_orders(slug: str):
    event = _event(slug)
    page, per_page = reports.parse_api_page(request.args)
    rows, total = reports.orders_page(event, page, per_page)
    return _page_answer("orders", [order_json(r, event) for r in rows], total, page, per_page,
                        "api.list_orders", event.slug)


# --- the OpenAPI description -------------------------------------------------------------------

def _time(description: str, nullable: bool = False) -> dict:
    return {"type": ["string", "null"] if nullable else "string", "format": "date-time", "description": description}


UTC_HELP = "In UTC, e.g. 2027-03-08T17:30:00Z."
LOCAL_HELP = "The same moment in the event's time zone."

TICKET_REF = api.add_schema("Ticket", {
    "type": "object",
    "required": ["id", "secret", "status", "order_status", "attendee_name", "attendee_email", "checked_in_at",
                 "checked_in_at_local", "ticket_type_id", "ticket_type", "order_code", "price_cents", "currency",
                 "created_at", "created_at_local"],
    "properties": {
        "id": {"type": "integer"},
        "secret": {"type": "string", "description": "What the ticket's QR code carries; the door scans it."},
        "status": {"type": "string", "enum": [s.value for s in TicketStatus],
                   "description": "The ticket's own status. It admits only when valid AND order_status is confirmed."},
        "order_status": {"type": "string", "enum": [s.value for s in OrderStatus]},
        "attendee_name": {"type": "string"},
        "attendee_email": {"type": ["string", "null"], "description": "Null when the buyer gave no address for this seat."},
        "checked_in_at": _time(UTC_HELP + " Null until checked in.", nullable=True),
        "checked_in_at_local": _time(LOCAL_HELP, nullable=True),
        "ticket_type_id": {"type": "integer"},
        "ticket_type": {"type": "string", "description": "The ticket type's name."},
        "order_code": {"type": "string"},
        "price_cents": {"type": "integer", "minimum": 0, "description": "What this seat cost (0 for free and complimentary)."},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "created_at": _time(UTC_HELP),
        "created_at_local": _time(LOCAL_HELP),
    },
})

ORDER_REF = api.add_schema("Order", {
    "type": "object",
    "required": ["id", "code", "buyer_name", "buyer_email", "status", "source", "total_cents", "currency",
                 "tickets_count", "valid_tickets_count", "created_at", "created_at_local", "confirmed_at",
                 "cancelled_at"],
    "properties": {
        "id": {"type": "integer"},
        "code": {"type": "string", "description": "The human order code (shown to the buyer)."},
        "buyer_name": {"type": "string"},
        "buyer_email": {"type": "string"},
        "status": {"type": "string", "enum": [s.value for s in OrderStatus]},
        "source": {"type": "string", "enum": [s.value for s in OrderSource]},
        "total_cents": {"type": "integer", "minimum": 0},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "tickets_count": {"type": "integer", "minimum": 0, "description": "All its tickets, cancelled ones included."},
        "valid_tickets_count": {"type": "integer", "minimum": 0},
        "created_at": _time(UTC_HELP),
        "created_at_local": _time(LOCAL_HELP),
        "confirmed_at": _time(UTC_HELP, nullable=True),
        "cancelled_at": _time(UTC_HELP, nullable=True),
    },
})

_PAGING = {
    "page": {"type": "integer", "minimum": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": reports.API_MAX_PER_PAGE},
    "total": {"type": "integer", "minimum": 0, "description": "Rows over all pages."},
    "next": {"type": ["string", "null"], "format": "uri",
             "description": "The next page's URL (also in the Link header); null on the last page."},
}
TICKET_LIST_REF = api.add_schema("TicketList", {
    "type": "object", "required": ["tickets", "page", "per_page", "total", "next"],
    "properties": {"tickets": {"type": "array", "items": TICKET_REF}, **_PAGING},
})
ORDER_LIST_REF = api.add_schema("OrderList", {
    "type": "object", "required": ["orders", "page", "per_page", "total", "next"],
    "properties": {"orders": {"type": "array", "items": ORDER_REF}, **_PAGING},
})

_PARAMS = [
    {"name": "slug", "in": "path", "required": True, "description": "The event's slug.", "schema": {"type": "string"}},
    {"name": "page", "in": "query", "required": False, "description": "Page number, from 1.",
     "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {"name": "per_page", "in": "query", "required": False, "description": "Rows per page.",
     "schema": {"type": "integer", "minimum": 1, "maximum": reports.API_MAX_PER_PAGE,
                "default": reports.API_PER_PAGE}},
]
_LINK = {"Link": {"description": 'The next page: `<url>; rel="next"` (absent on the last page).',
                  "schema": {"type": "string"}}}
_PAGINATION_HELP = (
    " Oldest first by id, `per_page` rows (default 100, at most 500) per `page`; follow `next` (or the "
    "`Link` header) until it is null. Rows are never deleted, so pages stay stable while people register."
)

api.document("/api/v1/events/{slug}/tickets", "get", {
    "operationId": "listTickets", "tags": ["registrations"],
    "summary": "The event's tickets: secret, status, attendee, check-in",
    "description": "Every ticket, cancelled ones included (see `status` and `order_status`)." + _PAGINATION_HELP,
    "parameters": _PARAMS,
    "responses": {"200": {**api.json_response(TICKET_LIST_REF, "A page of tickets."), "headers": _LINK},
                  **api.error_responses(401, 403, 404, 422)},
})
api.document("/api/v1/events/{slug}/orders", "get", {
    "operationId": "listOrders", "tags": ["registrations"],
    "summary": "The event's orders: code, buyer, status, total, tickets",
    "description": "Every order, whatever its status." + _PAGINATION_HELP,
    "parameters": _PARAMS,
    "responses": {"200": {**api.json_response(ORDER_LIST_REF, "A page of orders."), "headers": _LINK},
                  **api.error_responses(401, 403, 404, 422)},
})
