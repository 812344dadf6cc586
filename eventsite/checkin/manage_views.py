"""The check-in screen for the door, its JSON endpoints, and the organizer's check-in report.

Door staff (the check-in role, assigned to the event), owners and organizers reach the screen, scan,
undo, search and the counter (`event_for(..., roles=DOOR)`); only owners and organizers the report.
Every page needs a login. The JSON endpoints answer JSON errors too (the screen sends
`Accept: application/json`); POSTs need the CSRF token (the screen sends it as `X-CSRFToken`).

The screen works without JavaScript as well: the code field and each search result's "Check in"
are plain forms that post here and get the screen back with the answer. Each form carries a
`request_id`, so posting the same form again (a reload) answers the same and records nothing new.
"""
from __future__ import annotations

import json
import uuid

from flask import Blueprint, jsonify, render_template, request
from flask_login import current_user, login_required

from eventsite.checkin import reports, services
from eventsite.core.db import run_in_transaction
from eventsite.core.errors import DomainError, ValidationError
from eventsite.events.access import DOOR, event_for
from eventsite.events.manage_views import EVENT_TABS, add_event_tab

bp = Blueprint("checkin", __name__, url_prefix="/organizer", template_folder="templates")

add_event_tab("Check-in", "checkin.report")


@bp.before_request
@login_required
def _require_login():
    """Every check-in page needs a login."""


@bp.context_processor
def _tabs():
    """The event's tabs (the report extends the event editor's layout; its context processor is
    bound to the manage_events blueprint only)."""
    return {"event_tabs": EVENT_TABS}


class BadBody(DomainError):
    code = "bad_json"
    status = 400


def _actor():
    return current_user._get_current_object()


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _body() -> dict:
    """The POSTed fields: a JSON object (the screen's script) or a form (no JavaScript).

    JSON is decoded leniently: bytes that are not UTF-8 become U+FFFD, so a scanner that sends
    garbage inside a code gets "unknown code" rather than a parse error."""
    if not request.is_json:
        return request.form.to_dict()
    try:
        body = json.loads(request.get_data(cache=True).decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        raise BadBody("The request is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationError({"__all__": 'Send a JSON object, e.g. {"code": "..."}.'})
    return body


def _int_or_none(value):
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 11:
        return int(value.strip())
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_json(e: DomainError):
    fields = {k: v for k, v in e.errors.items() if k != "__all__"} if isinstance(e, ValidationError) else None
    body = {"error": {"code": e.code, "message": e.message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), e.status


def _screen(event, *, outcome=None, undo=None, error=None, query=None, status=200):
    return render_template(
        "checkin/screen.html", event=event, counts=reports.checkin_counts(event), outcome=outcome, undo=undo,
        error=error, search=reports.search_tickets(event, query) if query else None,
        new_request_id=lambda: uuid.uuid4().hex,
    ), status


# --- the screen -------------------------------------------------------------------------------

@bp.get("/events/<slug>/checkin")
def screen(slug: str):
    event = event_for(current_user, slug, roles=DOOR)
    return _screen(event, query=request.args.get("q"))


@bp.post("/events/<slug>/checkin/scan")
def scan(slug: str):
    """Check a ticket in: `code` (what the scanner read or the person typed) or `ticket_id` (a
    search result), with `door`, `request_id` and `method`. Always 200 with the answer's `result`."""
    event = event_for(current_user, slug, roles=DOOR)
    try:
        body = _body()
        args = {"event": event, "staff": _actor(), "door": body.get("door"), "request_id": body.get("request_id"),
                "method": body.get("method") or ("keyboard" if request.is_json else "form")}
        if body.get("ticket_id") not in (None, ""):
            ticket_id = _int_or_none(body.get("ticket_id"))
            outcome = run_in_transaction(lambda: services.check_in_ticket(ticket_id, **args))
        else:
            outcome = run_in_transaction(lambda: services.check_in(body.get("code"), **args))
    except DomainError as e:
        if _wants_json():
            return _error_json(e)
        return _screen(event, error=e.message, status=e.status)
    if _wants_json():
        return jsonify(outcome.to_json())
    return _screen(event, outcome=outcome)


@bp.post("/events/<slug>/checkin/undo")
def undo(slug: str):
    """Undo the check-in of the `ok` scan `scan_id` (the button under a welcome)."""
    event = event_for(current_user, slug, roles=DOOR)
    try:
        body = _body()
        result = run_in_transaction(lambda: services.undo_scan(
            event, _int_or_none(body.get("scan_id")), staff=_actor(), door=body.get("door")))
    except DomainError as e:
        if _wants_json():
            return _error_json(e)
        return _screen(event, error=e.message, status=e.status)
    if _wants_json():
        return jsonify(result.to_json())
    return _screen(event, undo=result)


@bp.get("/events/<slug>/checkin/search")
def search(slug: str):
    """Tickets matching `q` (name, email or order code), for the results-as-you-type list."""
    event = event_for(current_user, slug, roles=DOOR)
    return jsonify(reports.search_tickets(event, request.args.get("q", "")).to_json())


@bp.get("/events/<slug>/checkin/stats")
def stats(slug: str):
    """The counter: checked in / expected. The screen polls it every few seconds."""
    event = event_for(current_user, slug, roles=DOOR)
    response = jsonify(reports.checkin_counts(event).to_json())
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the organizer's report -------------------------------------------------------------------

@bp.get("/events/<slug>/checkin/report")
def report(slug: str):
    event = event_for(current_user, slug)
    data = reports.checkin_report(event, result=request.args.get("result") or None,
                                  door=request.args.get("door") or None, page=request.args.get("page", 1))
    return render_template("checkin/report.html", event=event, report=data)
