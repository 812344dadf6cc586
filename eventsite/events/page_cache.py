"""Rendered copies of the public pages for new visitors: the event page and the home page.

A new visitor (not logged in, nothing flashed for her) sees the same event page as every other new
visitor but for the CSRF token in its forms. Rendering it costs about ten times the one query it
needs (the registration form's widgets, the description's Markdown, the JSON-LD), so `events.views`
answers from a copy while the copy is still exactly right:

- What the page shows from the database is summed up by one query, the page's *fingerprint*: the
  `updated_at` of the event, its organization, each ticket type and question (a row added, changed
  or deleted changes it; every model here sets `updated_at` on update), how much is left of each
  ticket type *as the page shows it* (`display.remaining_as_shown`: exactly when the page could
  show the number, "plenty" otherwise, so a rush of registrations does not throw the copy away at
  every sale), and what the higher domains add to the page (`event_fingerprints`: connections adds
  its settings' `updated_at`). A copy is used only under the fingerprint it was rendered with.
  The event page reads it at most every `FINGERPRINT_REUSE_SECONDS` per process, and again at once
  after any write this process commits (see "a fingerprint read a moment ago" below).
- What it shows from the clock changes at moments the page knows (sales open or close, registration
  opens or closes, the event starts or ends: `display.next_change`): a copy serves until the next of
  them, never for longer than `MAX_AGE`, and never at a time before it was rendered.
- The CSRF token is cut out of the copy when it is stored and the visitor's own put back.

The home page works the same way (`home_fingerprint`: per event and ticket type, `updated_at` and
whether it is sold out) and has no token. Logged-in people and anyone with a flashed message get the
page rendered for them. Registration keeps its sold-out refusal (the event page with "sold out" in
its messages, answered 409) the same way, under the event's fingerprint and the refusal's text
(`registration.views`). Copies live in the process (`app.extensions`), at most `MAX_ENTRIES`; a
deploy starts empty. Someone changing rows by hand in SQL without touching `updated_at` is seen
after `MAX_AGE` at the latest.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, g, request, session
from flask_wtf.csrf import generate_csrf
from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    bindparam,
    func,
    select,
    type_coerce,
)
from sqlalchemy import event as sa_event
from sqlalchemy.types import NullType

from eventsite.accounts.models import Organization
from eventsite.events import display
from eventsite.events.models import Event, EventStatus, Question, TicketType
from eventsite.extensions import db

MAX_AGE = timedelta(seconds=60)
FINGERPRINT_REUSE_SECONDS = 0.5  # EVENTSITE_FINGERPRINT_REUSE_SECONDS; 0 reads it for every request
MAX_ENTRIES = 256
_MARK = "\x00csrf\x00"  # stands for the visitor's token in a stored copy; never in real HTML
# What a new visitor's session may hold: Flask-WTF's token, and Flask-Login's `_fresh` (False), which
# its session protection writes into any session that is not empty when `current_user` is loaded,
# logged in or not (so a visitor whose page was rendered once posts with it); anything else (a login,
# a flash) means the page is rendered for her.
_NEW_VISITOR_KEYS = frozenset({"csrf_token", "_fresh"})

# Higher domains add to the event page (events.views.event_page_context); for each addition that
# reads rows of their own, they add here fn() -> a scalar column correlated to `events`, which
# changes whenever what they show changes (connections: its settings' updated_at).
event_fingerprints: list[Callable[[], ColumnElement]] = []


@dataclass(frozen=True)
class Copy:
    key: tuple
    html: str
    has_token: bool
    rendered_at: datetime
    expires_at: datetime


class PageCache:
    """At most `MAX_ENTRIES` copies, the least recently used dropped first; safe across threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self._copies: OrderedDict[str, Copy] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, name: str, key: tuple, now: datetime) -> Copy | None:
        with self._lock:
            copy = self._copies.get(name)
            if copy is None or copy.key != key or not (copy.rendered_at <= now < copy.expires_at):
                return None
            self._copies.move_to_end(name)
            return copy

    def put(self, name: str, copy: Copy) -> None:
        with self._lock:
            self._copies[name] = copy
            self._copies.move_to_end(name)
            while len(self._copies) > self._max:
                self._copies.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._copies.clear()


def cache() -> PageCache:
    app = current_app._get_current_object()
    found = app.extensions.get("eventsite.page_cache")
    if found is None:
        found = app.extensions.setdefault("eventsite.page_cache", PageCache())
    return found


def enabled() -> bool:
    return current_app.config.get("EVENTSITE_PAGE_CACHE", True)


def new_visitor() -> bool:
    """A GET by someone to whom nothing in the request makes the page hers (see `anonymous`)."""
    return request.method == "GET" and anonymous()


def anonymous() -> bool:
    """Nothing in the request makes the page hers: no login (nor a remember-me cookie), no flash.
    Also asked of a POST whose answer is a stored page (registration's sold-out refusal)."""
    if not enabled():
        return False
    if current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies:
        return False
    return set(session.keys()) <= _NEW_VISITOR_KEYS


# --- storing and serving copies -------------------------------------------------------------------

def store(name: str, key: tuple, html: str, *, now: datetime, changes_at: datetime | None) -> None:
    """Keep `html`, rendered at `now` for this request, under `key`; it serves until `changes_at`."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    token = g.get(field) if field in g else None  # set by generate_csrf() if the page used a token
    has_token = bool(token) and token in html
    if has_token:
        html = html.replace(token, _MARK)
    expires = now + MAX_AGE
    if changes_at is not None:
        expires = min(expires, changes_at)
    cache().put(name, Copy(key, html, has_token, now, expires))


def serve(copy: Copy) -> str:
    """The copy with this visitor's CSRF token (a new one in her session, as rendering would)."""
    return copy.html.replace(_MARK, generate_csrf()) if copy.has_token else copy.html


# --- fingerprints -----------------------------------------------------------------------------------

def _as_stored(column: ColumnElement) -> ColumnElement:
    """A timestamp as the driver returns it, without the UTC conversion of every value: a key only
    compares them (a fifth of the home page's cost was converting 400 timestamps per request)."""
    return type_coerce(column, NullType())


_event_query: tuple[int, Select] | None = None


def _event_fingerprint_query() -> Select:
    """One row per ticket type (or one row if none) of the event `slug`; built once per hook list."""
    global _event_query
    if _event_query is not None and _event_query[0] == len(event_fingerprints):
        return _event_query[1]
    e, o, tt = Event.__table__, Organization.__table__, TicketType.__table__
    q = Question.__table__
    questions = select(func.count()).where(q.c.event_id == e.c.id)
    query = (
        select(
            e.c.id, e.c.status, _as_stored(e.c.updated_at), e.c.capacity, e.c.sold, _as_stored(o.c.updated_at),
            questions.scalar_subquery(),
            _as_stored(questions.with_only_columns(func.max(q.c.updated_at)).scalar_subquery()),
            *(_as_stored(make()) for make in event_fingerprints),
            tt.c.id, _as_stored(tt.c.updated_at), tt.c.capacity, tt.c.sold, tt.c.max_per_order,
        )
        .select_from(e.join(o, o.c.id == e.c.organization_id).outerjoin(tt, tt.c.event_id == e.c.id))
        .where(e.c.slug == bindparam("slug"))
        .order_by(tt.c.id)
    )
    _event_query = (len(event_fingerprints), query)
    return query


def event_fingerprint(slug: str, *, reuse: bool = False) -> tuple | None:
    """What the event page shows from the database, summed up; None when no public event has `slug`.

    With `reuse`, a fingerprint this process read less than `EVENTSITE_FINGERPRINT_REUSE_SECONDS` ago
    is answered again, unless this process committed a write since (see `_Recent`)."""
    if reuse:
        return _recent_fingerprint(slug)
    return _read_event_fingerprint(slug)


def _read_event_fingerprint(slug: str) -> tuple | None:
    rows = db.session.connection().execute(_event_fingerprint_query(), {"slug": slug}).all()
    if not rows or rows[0][1] not in (EventStatus.PUBLISHED, EventStatus.CANCELLED):
        return None  # drafts are not public
    first = rows[0]
    capacity, sold = first[3], first[4]
    event_left = None if capacity is None else max(capacity - sold, 0)
    n = 8 + len(event_fingerprints)  # the event's columns; the ticket type's follow
    tickets = []
    for row in rows:
        tt_id, updated, tt_capacity, tt_sold, most = row[n:n + 5]
        if tt_id is None:
            continue
        left = tt_capacity - tt_sold if event_left is None else min(tt_capacity - tt_sold, event_left)
        tickets.append((tt_id, updated, display.remaining_as_shown(left, tt_capacity, most)))
    # id, status, updated_at, whether the event's own capacity is reached, the organization's and
    # the questions' columns, the hooks' columns, then the ticket types.
    return (*first[:3], event_left == 0, *first[5:n], *tickets)


# --- a fingerprint read a moment ago --------------------------------------------------------------
# When hundreds of people open the page at the same second (sales open), each GET would still pay
# for its fingerprint: a pooled connection checked out and pinged, one query, a COMMIT; more than
# half of what serving the stored copy costs. A fingerprint read less than a moment ago is answered
# again instead. Every write this process commits (any COMMIT through SQLAlchemy: a registration,
# an organizer's edit) makes the next request read it afresh, so a page never trails what happened
# in its own process; a write in another process (another gunicorn worker) shows at the latest
# after the moment, which is also about how long the page takes to reach the visitor.
_writes = 0  # COMMITs through SQLAlchemy in this process


@sa_event.listens_for(Engine, "commit")
def _count_commit(conn) -> None:
    global _writes
    _writes += 1  # a lost increment under a race still changes the value: that is all that is asked


class _Recent:
    """Fingerprints by slug with when they were read and the count of writes then."""

    def __init__(self):
        self._read: dict[str, tuple[int, float, tuple | None]] = {}

    def fingerprint(self, slug: str, seconds: float) -> tuple | None:
        writes, now = _writes, time.monotonic()
        found = self._read.get(slug)
        if found is not None and found[0] == writes and now - found[1] < seconds:
            return found[2]
        fingerprint = _read_event_fingerprint(slug)
        if seconds > 0:
            if len(self._read) >= MAX_ENTRIES:
                self._read.clear()
            self._read[slug] = (writes, now, fingerprint)
        return fingerprint


def _recent_fingerprint(slug: str) -> tuple | None:
    app = current_app._get_current_object()
    recent = app.extensions.get("eventsite.recent_fingerprints")
    if recent is None:
        recent = app.extensions.setdefault("eventsite.recent_fingerprints", _Recent())
    return recent.fingerprint(slug, float(app.config.get("EVENTSITE_FINGERPRINT_REUSE_SECONDS",
                                                          FINGERPRINT_REUSE_SECONDS)))


_home_queries: dict[int, Select] = {}


def _home_fingerprint_query(limit: int) -> Select:
    """The listed events (as `services.upcoming_public_events` picks them) joined to their ticket types."""
    if limit not in _home_queries:
        e, tt = Event.__table__, TicketType.__table__
        listed = (
            select(e.c.id, e.c.updated_at, e.c.capacity, e.c.sold, e.c.starts_at, e.c.ends_at)
            .where(e.c.status == EventStatus.PUBLISHED, e.c.ends_at > bindparam("now", type_=e.c.ends_at.type))
            .order_by(e.c.starts_at, e.c.id)
            .limit(limit)
            .subquery()
        )
        _home_queries[limit] = (
            select(listed.c.id, _as_stored(listed.c.updated_at), listed.c.capacity, listed.c.sold, listed.c.ends_at,
                   tt.c.id, _as_stored(tt.c.updated_at), tt.c.hidden, tt.c.capacity, tt.c.sold)
            .select_from(listed.outerjoin(tt, tt.c.event_id == listed.c.id))
            .order_by(listed.c.starts_at, listed.c.id, tt.c.id)
        )
    return _home_queries[limit]


def home_fingerprint(now: datetime, limit: int) -> tuple[tuple, datetime | None]:
    """What the home page's cards show, summed up, and the first moment a listed event ends."""
    rows = db.session.connection().execute(_home_fingerprint_query(limit), {"now": now}).all()
    key = tuple(
        (event_id, updated, capacity is not None and sold >= capacity,
         tt_id, tt_updated, hidden, tt_id is not None and tt_sold >= tt_capacity)
        for event_id, updated, capacity, sold, _ends, tt_id, tt_updated, hidden, tt_capacity, tt_sold in rows
    )
    ends = [row[4] for row in rows]
    return key, (min(ends) if ends else None)

