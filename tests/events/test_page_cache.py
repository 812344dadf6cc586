"""The stored copies of the public pages (eventsite/events/page_cache.py): a new visitor gets a copy
only while it is exactly what rendering would give her, with her own CSRF token.

Each check compares the page served with the page rendered with the cache off, tokens aside, after a
change the page shows (an edit, a sale, a question, the networking settings, the clock), and counts
statements to tell a copy (one: the fingerprint) from a rendering.
"""
from __future__ import annotations

import re
import time
from datetime import timedelta

from sqlalchemy import update

from eventsite.accounts.models import Organization
from eventsite.connections import event_settings
from eventsite.core.db import utcnow
from eventsite.events import display
from eventsite.events.models import (
    Event,
    EventStatus,
    Question,
    QuestionKind,
    TicketType,
)
from eventsite.events.page_cache import Copy, PageCache
from eventsite.extensions import db
from tests.conftest import login
from tests.events.public_helpers import card_for, visible_text
from tests.factories import make_event, make_question, make_ticket_type
from tests.registration.manage_support import count_queries

STEPS = {"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)}
TOKEN = re.compile(r'(name="csrf_token"[^>]*value=")([^"]+)(")')


def _tokens(html: str) -> list[str]:
    return [m.group(2) for m in TOKEN.finditer(html)]


def _without_tokens(html: str) -> str:
    return TOKEN.sub(r"\1TOKEN\3", html)


def _get(app, path: str, client=None) -> tuple[str, int]:
    """The page for a new visitor (or `client`) and the statements it took."""
    with count_queries(app) as seen:
        response = (client or app.test_client()).get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True), len(seen)


def _rendered(app, path: str) -> str:
    """The page as rendering gives it, the cache off."""
    app.config["EVENTSITE_PAGE_CACHE"] = False
    try:
        return _get(app, path)[0]
    finally:
        app.config["EVENTSITE_PAGE_CACHE"] = True


def _served(app, path: str) -> tuple[str, int]:
    """What a new visitor gets now, checked against rendering."""
    html, statements = _get(app, path)
    assert _without_tokens(html) == _without_tokens(_rendered(app, path))
    return html, statements


def _change(app, fn) -> None:
    with app.app_context():
        fn()
        db.session.commit()


def _sell(app, tt_id: int, sold: int) -> None:
    """Seats taken the way registration takes them: `sold` moves, `updated_at` does not."""
    tt = TicketType.__table__

    def go():
        db.session.execute(update(tt).where(tt.c.id == tt_id).values(sold=sold, updated_at=tt.c.updated_at))
    _change(app, go)


def _event(app, org: int, **kw) -> tuple[str, int]:
    with app.app_context():
        event = make_event(org, title=kw.pop("title", "Mentoring Breakfast"), **kw)
        tt = make_ticket_type(event, name="Breakfast seat", capacity=100, max_per_order=5)
        return f"/events/{event.slug}", tt.id


def test_new_visitors_share_one_rendering_each_with_her_own_token(app, organizer):
    path, tt_id = _event(app, organizer["organization_id"])
    first, rendering = _get(app, path)
    second, copy = _served(app, path)
    third, _ = _get(app, path)
    # Rendered once (fingerprint, event, settings...), then the copy under the fingerprint read a
    # moment ago: no query at all (see the next test).
    assert rendering >= 3 and copy == 0
    assert len(_tokens(second)) == 1 and len({*_tokens(first), *_tokens(second), *_tokens(third)}) == 3

    client = app.test_client()  # a visitor registers with the form from a copy
    page = client.get(path).get_data(as_text=True)
    answer = client.post(path + "/register", data={
        "csrf_token": _tokens(page)[0], "name": "Ada Visitor", "email": "ada@example.org", f"quantity-{tt_id}": "1",
    })
    assert answer.status_code == 303 and "/tickets/" in answer.headers["Location"]


def _write_behind_the_app(app, sql: str) -> None:
    """A write this process's SQLAlchemy does not see: another gunicorn worker's, say."""
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            raw.cursor().execute(sql)
            raw.commit()
        finally:
            raw.close()


def test_a_fingerprint_is_reused_for_a_moment_unless_this_process_wrote(app, organizer):
    app.config["EVENTSITE_FINGERPRINT_REUSE_SECONDS"] = moment = 0.4
    try:
        path, tt_id = _event(app, organizer["organization_id"])
        _get(app, path)
        assert _get(app, path)[1] == 0  # the fingerprint just read: no query

        _sell(app, tt_id, 100)  # a write committed here: read again at once (and rendered: it changed)
        html, statements = _get(app, path)
        assert statements > 1 and "Sold out" in visible_text(html)
        assert _get(app, path)[1] == 0

        _write_behind_the_app(app, f"UPDATE ticket_types SET sold = 90 WHERE id = {int(tt_id)}")
        started = time.monotonic()
        html, statements = _get(app, path)
        if time.monotonic() - started < moment:  # (a stalled machine may already be past the moment)
            assert statements == 0 and "Sold out" in visible_text(html)
        time.sleep(moment)
        html, statements = _get(app, path)
        assert statements > 1 and "10 left" in visible_text(html)
    finally:
        app.config.pop("EVENTSITE_FINGERPRINT_REUSE_SECONDS")


def test_every_edit_the_page_shows_is_seen_at_once(app, organizer):
    path, tt_id = _event(app, organizer["organization_id"])
    slug = path.rsplit("/", 1)[1]
    _get(app, path)

    def event():
        return db.session.query(Event).filter_by(slug=slug).one()

    _change(app, lambda: setattr(event(), "title", "Mentoring Breakfast, moved upstairs"))
    assert "moved upstairs" in _served(app, path)[0]

    _change(app, lambda: make_question(event(), label="Which table would you like?", kind=QuestionKind.SHORT_TEXT))
    html, _ = _served(app, path)
    assert "Which table would you like?" in html
    assert _served(app, path)[1] == 0  # and that is the copy now (the fingerprint read a moment ago)

    _change(app, lambda: setattr(db.session.query(Question).one(), "label", "Which room would you like?"))
    html, _ = _served(app, path)
    assert "Which room" in html and "Which table" not in html

    _change(app, lambda: db.session.delete(db.session.query(Question).one()))
    assert "Which room" not in _served(app, path)[0]

    _change(app, lambda: setattr(db.session.get(Organization, organizer["organization_id"]), "name", "Women Who Lead"))
    assert "Women Who Lead" in _served(app, path)[0]  # the JSON-LD's organizer

    assert 'name="networking-' in _served(app, path)[0]  # the networking section, on by default
    _change(app, lambda: event_settings.update_settings(
        event(), enabled=True, audience="registered", tags="Finance\nMentoring\nProduct", steps=STEPS))
    assert "Mentoring" in visible_text(_served(app, path)[0].split("networking-", 1)[1])
    _change(app, lambda: event_settings.update_settings(
        event(), enabled=False, audience="registered", tags="Finance", steps=STEPS))
    assert 'name="networking-' not in _served(app, path)[0]

    _change(app, lambda: setattr(db.session.get(TicketType, tt_id), "hidden", True))
    assert "Breakfast seat" not in _served(app, path)[0]

    _change(app, lambda: setattr(event(), "status", EventStatus.CANCELLED))
    assert "This event has been cancelled." in _served(app, path)[0]

    _change(app, lambda: setattr(event(), "status", EventStatus.DRAFT))
    assert app.test_client().get(path).status_code == 404


def test_sales_change_the_copy_only_when_the_page_would_show_them(app, organizer):
    path, tt_id = _event(app, organizer["organization_id"])  # capacity 100, 5 per order: "few" is 20 or less
    _get(app, path)
    _sell(app, tt_id, 50)
    html, statements = _served(app, path)
    assert statements == 1 and "Available" in html  # 50 left reads as 0 left: the same copy

    for sold, shown in ((85, "15 left"), (86, "14 left"), (97, "3 left")):
        _sell(app, tt_id, sold)
        html, _ = _served(app, path)
        assert shown in visible_text(html)
    assert re.findall(r'<option[^>]*value="(\d+)"', html) == ["0", "1", "2", "3"]  # no more than are left

    _sell(app, tt_id, 100)
    html, _ = _served(app, path)
    assert "Sold out" in visible_text(html) and "waitlist" in html.lower()
    _sell(app, tt_id, 99)  # a cancellation: the seat is back at once
    assert "1 left" in visible_text(_served(app, path)[0])


def test_the_event_capacity_counts_too(app, organizer):
    path, tt_id = _event(app, organizer["organization_id"], capacity=40)
    _get(app, path)
    ev = Event.__table__
    _sell(app, tt_id, 40)

    def fill():
        db.session.execute(update(ev).values(sold=40, updated_at=ev.c.updated_at))
    _change(app, fill)
    assert "Sold out" in visible_text(_served(app, path)[0])


def test_a_copy_ends_when_the_clock_changes_the_page(app, organizer):
    closes = utcnow() + timedelta(seconds=1.5)
    path, tt_id = _event(app, organizer["organization_id"])
    with app.app_context():
        db.session.get(TicketType, tt_id).sales_end = closes
        db.session.commit()
    assert "Breakfast seat" in _served(app, path)[0] and _get(app, path)[1] == 0
    time.sleep(max((closes - utcnow()).total_seconds(), 0) + 0.1)
    html, statements = _served(app, path)
    assert "Sales ended" in visible_text(html) and statements > 1


def test_logged_in_people_and_flashed_messages_get_their_own_page(app, organizer):
    path, _ = _event(app, organizer["organization_id"])
    _get(app, path)  # a copy exists
    staff = app.test_client()
    login(staff, organizer["email"])
    html, statements = _get(app, path, staff)
    assert "Log out" in html and statements > 1
    assert "Log out" not in _get(app, path)[0]  # and the copy is not hers

    flashed = app.test_client()
    with flashed.session_transaction() as session:
        session["_flashes"] = [("success", "Thank you for coming last time.")]
    assert "Thank you for coming last time." in _get(app, path, flashed)[0]
    assert "Thank you for coming" not in _get(app, path, flashed)[0]  # shown once
    assert "Thank you for coming" not in _get(app, path)[0]


def test_a_visitor_whose_page_was_rendered_still_gets_copies(app, organizer):
    """Rendering loads `current_user`, and Flask-Login's session protection then writes `_fresh`
    (False) into her session: that does not make the page hers."""
    path, _ = _event(app, organizer["organization_id"])
    visitor = app.test_client()
    _, rendering = _get(app, path, visitor)
    with visitor.session_transaction() as session:
        assert set(session) == {"csrf_token", "_fresh"} and session["_fresh"] is False
    html, statements = _get(app, path, visitor)
    assert rendering > 1 and statements == 0 and _tokens(html)


def test_home_page_copy_follows_events_and_sales(app, organizer):
    org = organizer["organization_id"]
    _, tt_id = _event(app, org, title="Mentoring Breakfast")
    ends = utcnow() + timedelta(seconds=1.5)
    _event(app, org, title="Lunch Circle", starts_at=ends - timedelta(hours=1), ends_at=ends)
    _get(app, "/")
    html, statements = _served(app, "/")
    assert statements == 1 and "Lunch Circle" in html

    _event(app, org, title="Evening Talks")
    assert "Evening Talks" in _served(app, "/")[0]

    _sell(app, tt_id, 100)
    assert "Sold out" in visible_text(card_for(_served(app, "/")[0], "Mentoring Breakfast"))

    time.sleep(max((ends - utcnow()).total_seconds(), 0) + 0.1)
    assert "Lunch Circle" not in _served(app, "/")[0]  # over: gone without anyone touching it


def test_next_change_and_remaining_as_shown():
    now = utcnow()
    event = Event(registration_opens_at=None, registration_closes_at=now + timedelta(hours=2),
                  starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
    event.ticket_types = [TicketType(sales_start=now - timedelta(days=1), sales_end=now + timedelta(hours=1))]
    assert display.next_change(event, now) == now + timedelta(hours=1)
    assert display.next_change(event, now + timedelta(days=2)) is None
    assert display.remaining_as_shown(500, 1000, 10) is None
    assert display.remaining_as_shown(100, 1000, 10) == 100  # 10 % of the capacity: "few"
    assert display.remaining_as_shown(8, 30, 10) == 8  # fewer than one order may take


def test_the_store_keeps_the_newest_and_refuses_copies_from_the_future():
    store, now = PageCache(max_entries=2), utcnow()
    for name in ("a", "b", "c"):
        store.put(name, Copy(("k",), name, False, now, now + timedelta(minutes=1)))
    assert store.get("a", ("k",), now) is None and store.get("c", ("k",), now).html == "c"
    assert store.get("c", ("other",), now) is None
    assert store.get("c", ("k",), now - timedelta(seconds=1)) is None  # the clock went back
    assert store.get("c", ("k",), now + timedelta(minutes=1)) is None  # expired
