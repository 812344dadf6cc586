"""The confirmation's calendar file is made once per version of the event (a registration-rush
optimisation, bench/README.md), and never goes stale: any change to the event makes a new one."""
from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar
from sqlalchemy import select

from eventsite.core.mail.deferred import materialize_pending
from eventsite.core.mail.models import OutboxMessage
from eventsite.events.services import update_event
from eventsite.extensions import db
from eventsite.registration import emails
from tests.registration.helpers import attachment_bytes


def _ics_of(order) -> Calendar:
    rendered = emails.render_confirmation(order)
    [ics] = [a for a in rendered.attachments if a.filename == "event.ics"]
    return Calendar.from_ical(ics.data)


def _outbox_rows(order):
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.key == f"confirmation:{order.id}")).all()


def _summary_and_start(cal: Calendar) -> tuple[str, object]:
    [vevent] = cal.walk("VEVENT")
    return str(vevent["SUMMARY"]), vevent.decoded("DTSTART")


def test_registrations_of_one_event_share_one_calendar_file(ctx, event, make_order, monkeypatch):
    emails._ICS_CACHE.clear()
    made = []
    real = emails.event_ics
    monkeypatch.setattr(emails, "event_ics", lambda ev: made.append(ev.id) or real(ev))
    first, second = make_order(event), make_order(event)
    materialize_pending()  # the worker's rendering of both confirmations
    assert made == [event.id]  # the second confirmation reused the first one's file
    for order in (first, second):
        [row] = _outbox_rows(order)
        [ics] = [a for a in row.attachments if a["filename"] == "event.ics"]
        assert b"SUMMARY:" + event.title.encode() in attachment_bytes(ics)


def test_an_edited_event_gets_a_new_calendar_file_at_once(ctx, event, make_order):
    emails._ICS_CACHE.clear()
    order = make_order(event)
    before = _summary_and_start(_ics_of(order))
    assert before[0] == event.title

    new_start = (event.starts_at + timedelta(hours=2)).replace(microsecond=0)
    update_event(event, {"title": "Moved: Leadership Evening", "starts_at": new_start,
                         "ends_at": new_start + timedelta(hours=3)}, actor=None)
    db.session.commit()
    summary, start = _summary_and_start(_ics_of(order))
    assert summary == "Moved: Leadership Evening"
    assert start == new_start.astimezone(start.tzinfo)


def test_the_cached_file_expires(ctx, event, make_order, monkeypatch):
    emails._ICS_CACHE.clear()
    order = make_order(event)
    materialize_pending()  # the worker renders the order's own confirmation
    made = []
    real = emails.event_ics
    monkeypatch.setattr(emails, "event_ics", lambda ev: made.append(ev.id) or real(ev))
    emails.render_confirmation(order)
    assert made == []  # still the file made for the order's own confirmation
    monkeypatch.setattr(emails, "ICS_CACHE_SECONDS", 0.0)
    emails.render_confirmation(order)
    assert made == [event.id]
