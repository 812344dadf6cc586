"""Helpers for the organizer attendee-management and tickets-API tests.

Data is set up in app contexts of its own (`in_app`), never shared with a client request, so each
request sees the database as a browser would. Orders are registered through the real service
(`register`), except where a test needs hundreds of rows (`bulk_tickets`) or a value the service's
validation would refuse (the formula-injection test), which it writes to the tables directly.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import unescape

from sqlalchemy import event as sa_event
from sqlalchemy import update

from eventsite.core.db import utcnow
from eventsite.core.security import random_token
from eventsite.events.models import Event, EventStatus, QuestionKind, TicketType
from eventsite.extensions import db
from eventsite.registration.models import (
    Order,
    OrderSource,
    OrderStatus,
    Ticket,
    TicketStatus,
)
from eventsite.registration.services import register_attendees
from tests.factories import make_event, make_question, make_ticket_type


def in_app(app, fn, *args, **kwargs):
    """Run fn in an app context of its own and return its result (ORM objects come back detached)."""
    with app.app_context():
        try:
            return fn(*args, **kwargs)
        finally:
            db.session.remove()


@dataclass
class Setup:
    event_id: int
    slug: str
    general_id: int
    vip_id: int
    diet_id: int
    topics_id: int
    photo_id: int

    @property
    def base(self) -> str:
        return f"/organizer/events/{self.slug}"


def make_setup(organization_id: int, *, slug: str = "leaders-dinner", status: EventStatus = EventStatus.PUBLISHED,
               general_capacity: int = 10000, vip_price: int = 0, timezone: str = "Europe/Berlin",
               starts_at: datetime | None = None) -> Setup:
    kw = {"starts_at": starts_at} if starts_at else {}
    event = make_event(organization_id, slug=slug, title="Leaders Dinner", status=status, timezone=timezone,
                       currency="EUR", **kw)
    general = make_ticket_type(event, name="General admission", capacity=general_capacity, position=0)
    vip = make_ticket_type(event, name="VIP table", capacity=10, price_cents=vip_price, position=1)
    diet = make_question(event, label="Dietary requirements", kind=QuestionKind.SHORT_TEXT, position=0)
    topics = make_question(event, label="Topics", kind=QuestionKind.MULTIPLE_CHOICE,
                           options=["Finance", "Tech", "Boards"], position=1)
    photo = make_question(event, label="Photos OK?", kind=QuestionKind.CHECKBOX, position=2)
    return Setup(event.id, event.slug, general.id, vip.id, diet.id, topics.id, photo.id)


def register(app, event_id: int, *, name: str, email: str, quantities: dict, attendees=None, answers=None,
             source: str = "public", now: datetime | None = None) -> dict:
    """register_attendees through the service, committed; returns the order's id, code and tickets."""

    def work():
        event = db.session.get(Event, event_id)
        order = register_attendees(event, buyer_name=name, buyer_email=email, quantities=quantities,
                                   attendees=attendees, answers=answers, source=source, now=now)
        db.session.commit()
        return {"id": order.id, "code": order.code, "token": order.token,
                "tickets": [{"id": t.id, "secret": t.secret, "name": t.attendee_name} for t in order.tickets]}

    return in_app(app, work)


def check_in(app, ticket_id: int, at: datetime | None = None) -> None:
    def work():
        db.session.execute(update(Ticket).where(Ticket.id == ticket_id).values(checked_in_at=at or utcnow()))
        db.session.commit()

    in_app(app, work)


def bulk_tickets(app, event_id: int, ticket_type_id: int, n: int, *, start: datetime | None = None,
                 step: timedelta = timedelta(minutes=7), prefix: str = "Attendee") -> None:
    """n one-ticket confirmed orders, written in one flush (the service would render n emails)."""

    def work():
        event = db.session.get(Event, event_id)
        first = start or utcnow() - timedelta(days=10)
        for i in range(n):
            at = first + step * i
            email = f"{prefix.lower()}{i:04d}@example.org"
            order = Order(event_id=event_id, code=random_token(40), token=random_token(130),
                          buyer_name=f"{prefix} {i:04d}", buyer_email=email, status=OrderStatus.CONFIRMED,
                          source=OrderSource.PUBLIC, total_cents=0, currency=event.currency, answers={},
                          created_at=at, confirmed_at=at, confirmation_count=0)
            order.tickets.append(Ticket(event_id=event_id, ticket_type_id=ticket_type_id, secret=random_token(130),
                                        attendee_name=f"{prefix} {i:04d}", attendee_email=email, price_cents=0,
                                        status=TicketStatus.VALID, created_at=at))
            db.session.add(order)
        db.session.flush()
        db.session.execute(update(TicketType).where(TicketType.id == ticket_type_id).values(sold=TicketType.sold + n))
        db.session.execute(update(Event).where(Event.id == event_id).values(sold=Event.sold + n))
        db.session.commit()

    in_app(app, work)


@contextmanager
def count_queries(app):
    """Every SQL statement sent to the database while the block runs (a before_cursor_execute listener)."""
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa_event.remove(engine, "before_cursor_execute", listener)


# --- reading pages -----------------------------------------------------------------------------

def text_of(html: str) -> str:
    html = re.sub(r"<(script|style|datalist)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def table_rows(html: str, table_class: str = "reg-list") -> list[dict[str, str]]:
    """The rows of <table class="... table_class">, each as {data-label: visible text}."""
    m = re.search(rf'<table class="[^"]*\b{table_class}\b[^"]*">(.*?)</table>', html, re.S)
    if not m:
        return []
    body = re.search(r"<tbody>(.*?)</tbody>", m.group(1), re.S).group(1)
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r'<t[dh][^>]*data-label="([^"]+)"[^>]*>(.*?)</t[dh]>', tr, re.S)
        rows.append({label: text_of(cell) for label, cell in cells})
    return rows


def field_error(html: str, field_id: str) -> str | None:
    m = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    return unescape(m.group(1)).strip() if m else None
