"""Helpers for the waitlist tests (tests/registration/test_waitlist*.py, tests/browser/test_waitlist.py)."""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import select

from eventsite.core.mail.models import OutboxMessage
from eventsite.core.mail.worker import deliver_due
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.registration import cancellation, waitlist
from eventsite.registration.models import Order, WaitlistEntry
from eventsite.registration.services import register_attendees
from tests.conftest import csrf_from
from tests.factories import make_event, make_ticket_type

LINK_RE = re.compile(r"http://eventsite\.test/waitlist/([A-Z0-9]+)(/leave)?")


@dataclass
class SoldOut:
    """A published event whose only ticket type (capacity 1) is taken by Ada's order."""

    event_id: int
    type_id: int
    slug: str
    order_id: int


@contextmanager
def in_db(app):
    """An app context of its own for setting up data or asserting on the database; never around a
    client request (the request would share its session)."""
    with app.app_context():
        try:
            yield
        finally:
            db.session.remove()


def register(app, event_id: int, email: str, name: str = "Ada Attendee", quantities=None) -> int:
    """Register through the real service, commit; return the order id."""
    with in_db(app):
        event = db.session.get(Event, event_id)
        quantities = quantities or {event.ticket_types[0].id: 1}
        extra = [{"name": f"Guest {i}"} for i in range(1, sum(quantities.values()))]
        order = register_attendees(event, buyer_name=name, buyer_email=email, quantities=quantities, attendees=extra)
        db.session.commit()
        return order.id


def make_sold_out(app, organization_id: int) -> SoldOut:
    """The `sold_out` fixture of the waitlist tests."""
    with in_db(app):
        event = make_event(organization_id, title="Mentoring Circle", slug="mentoring-circle")
        tt = make_ticket_type(event, name="Seat", capacity=1)
        ids = event.id, tt.id
    order_id = register(app, ids[0], "ada@example.org")
    return SoldOut(ids[0], ids[1], "mentoring-circle", order_id)


def cancel(app, order_id: int) -> None:
    """Ada cancels her order (the ticket page's service), committed."""
    with in_db(app):
        cancellation.cancel_order(db.session.get(Order, order_id))
        db.session.commit()


def fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def event_of(s: SoldOut) -> Event:
    return fresh(Event, s.event_id)


def sold(type_id: int) -> int:
    return fresh(TicketType, type_id).sold


def join(app, event_id: int, email: str, name: str = "Wanda Waiting", ticket_type="", quantity=1, now=None) -> str:
    """Join through the service and commit; return the entry's token."""
    with in_db(app):
        event = db.session.get(Event, event_id)
        entry = waitlist.join_waitlist(event, name=name, email=email, now=now, quantity=quantity,
                                       ticket_type=ticket_type or str(event.ticket_types[0].id))
        db.session.commit()
        return entry.token


def entry_for(email: str) -> WaitlistEntry:
    db.session.expire_all()
    return db.session.scalars(select(WaitlistEntry).where(WaitlistEntry.email == email)
                              .order_by(WaitlistEntry.id.desc())).first()


def keys() -> list[str]:
    db.session.expire_all()
    return [m.key for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def orders_of(email: str) -> list[Order]:
    db.session.expire_all()
    return list(db.session.scalars(select(Order).where(Order.buyer_email == email)))


def deliver(app) -> None:
    with app.app_context():
        deliver_due()
        db.session.remove()


def link_in(mail) -> str:
    """The claim/page link `/waitlist/<token>` of a received waitlist email (from its text part)."""
    text = mail.message.get_body(preferencelist=("plain",)).get_content()
    m = LINK_RE.search(text)
    assert m, f"no waitlist link in: {text!r}"
    return f"/waitlist/{m.group(1)}"


def post_page_form(client, page_url: str, action: str, data: dict | None = None):
    """GET `page_url`, take the CSRF token of its forms, POST `data` to `action`."""
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    return client.post(action, data={"csrf_token": csrf_from(page.data), **(data or {})})


def limited_app_for(app):
    """The app with Flask-Limiter on (the suite's app has it off), on the same database (as in
    tests/accounts/conftest.py); the shared limiter's `enabled` flag is restored afterwards."""
    from eventsite import create_app
    from eventsite.config import TestConfig
    from eventsite.extensions import limiter

    settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    settings.update(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        EVENTSITE_MAIL_URL=app.config["EVENTSITE_MAIL_URL"],
        EVENTSITE_BASE_URL=app.config["EVENTSITE_BASE_URL"],
        SECRET_KEY=app.config["SECRET_KEY"],
    )
    was_enabled = limiter.enabled
    limited = create_app(settings)
    try:
        limiter.reset()
        yield limited
    finally:
        limiter.reset()
        limiter.enabled = was_enabled
        with limited.app_context():
            db.session.remove()
            db.engine.dispose()
