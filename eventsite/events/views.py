"""Public pages: upcoming events, the event page, its calendar file, and cover images."""
from __future__ import annotations

import os
from collections.abc import Callable

from flask import Blueprint, abort, current_app, render_template, send_from_directory

from eventsite.core.db import utcnow
from eventsite.core.errors import NotFoundError
from eventsite.core.text import SLUG_RE
from eventsite.events import display, page_cache
from eventsite.events.calendar import event_ics
from eventsite.events.models import Event
from eventsite.events.services import (
    UPCOMING_LIMIT,
    public_event,
    upcoming_public_events,
)
from eventsite.events.uploads import STORED_NAME_RE

bp = Blueprint("events", __name__, template_folder="templates")

UPLOAD_MAX_AGE = 365 * 24 * 3600  # stored names are random and never reused: cache for a year

# Higher domains add to the event page through these callbacks (fn(event) -> extra template context),
# appended at import time: registration puts its form there (`registration` in the context, which
# show.html includes in its `registration` block). events never imports them.
event_page_context: list[Callable[[Event], dict]] = []


@bp.get("/")
def index():
    now = utcnow()
    if not page_cache.new_visitor():
        return _render_index(now)
    key, first_end = page_cache.home_fingerprint(now, UPCOMING_LIMIT)
    copy = page_cache.cache().get("/", key, now)
    if copy is None:
        html = _render_index(now)
        page_cache.store("/", key, html, now=now, changes_at=first_end)
        return html
    return page_cache.serve(copy)


def _render_index(now) -> str:
    cards = [display.event_card(event) for event in upcoming_public_events(now, limit=UPCOMING_LIMIT)]
    return render_template("events/index.html", cards=cards)


def _public_event_or_404(slug: str) -> Event:
    try:
        return public_event(slug)
    except NotFoundError:
        abort(404)  # the friendly "Page not found" page; drafts are never revealed


@bp.get("/events/<slug>")
def show(slug: str):
    """The event page; a new visitor gets a copy while it is exactly right (see page_cache)."""
    now = utcnow()
    if not page_cache.new_visitor():
        return _render_show(_public_event_or_404(slug), now)
    key = page_cache.event_fingerprint(slug, reuse=True) if SLUG_RE.match(slug) and len(slug) <= 120 else None
    if key is None:
        abort(404)  # no such event, or a draft
    name = "/events/" + slug
    copy = page_cache.cache().get(name, key, now)
    if copy is None:
        event = _public_event_or_404(slug)
        html = _render_show(event, now)
        page_cache.store(name, key, html, now=now, changes_at=display.next_change(event, now))
        return html
    return page_cache.serve(copy)


def _render_show(event: Event, now) -> str:
    page = display.event_page(event, now=now)
    extra: dict = {}
    for callback in event_page_context:
        extra.update(callback(page.event))
    return render_template("events/show.html", page=page, event=page.event, **extra)


@bp.get("/events/<slug>.ics")
def ics(slug: str):
    event = _public_event_or_404(slug)
    return current_app.response_class(
        event_ics(event),
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="{event.slug}.ics"'},
    )


@bp.get("/uploads/<path:filename>")
def upload(filename: str):
    """Cover images stored by the editor. Only names the app itself generated are served."""
    if not STORED_NAME_RE.match(filename):
        abort(404)
    response = send_from_directory(
        os.path.join(current_app.instance_path, "uploads"), filename, max_age=UPLOAD_MAX_AGE
    )
    response.cache_control.public = True
    response.cache_control.immutable = True
    # Opened on its own, an upload is an inert document: nothing in it may run.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
