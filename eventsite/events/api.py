"""Organizer API for events and ticket types: thin JSON views over `events.services`.

Each view: authenticate (the blueprint does it), find the event with `access.event_for`, read the
JSON body, check JSON types against the field specs of `api_schema`, call ONE service, commit once,
answer. The same specs produce the OpenAPI schemas there, so what is documented is what is checked.
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
from eventsite.events.api_schema import (
    CREATE_EVENT_FIELDS,
    EVENT_READ_ONLY,
    EVENT_TIMES,
    TICKET_TYPE_FIELDS,
    TICKET_TYPE_READ_ONLY,
    TICKET_TYPE_TIMES,
    UPDATE_EVENT_FIELDS,
)
from eventsite.events.models import Event, EventStatus, TicketType

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
