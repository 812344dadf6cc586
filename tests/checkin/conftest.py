"""Check-in fixtures: an event at the door with tickets registered through the real service.

`door` makes, in organization A (the `organizer` fixture's): the event "Leadership Breakfast" with a
free and a paid ticket type, a question shown at the door and one that is not, and a check-in staff
member assigned to it ("Dora Door", door@example.org). `tickets` registers people and returns the
secrets of their tickets. Everything is committed; each test starts from empty tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import count

import pytest
from sqlalchemy import func, select

from eventsite.accounts.models import Role, User
from eventsite.checkin.models import Scan
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Order, OrderStatus, Ticket
from eventsite.registration.services import register_attendees
from tests.conftest import csrf_from, login
from tests.factories import make_event, make_member, make_question, make_ticket_type

_seq = count(1)


@dataclass
class Door:
    organization_id: int
    event_id: int
    slug: str
    free_type_id: int
    paid_type_id: int
    diet_question_id: int
    company_question_id: int
    staff_id: int
    staff_email: str

    @property
    def screen(self) -> str:
        return f"/organizer/events/{self.slug}/checkin"


@pytest.fixture
def door(app, organizer) -> Door:
    with app.app_context():
        org_id = organizer["organization_id"]
        event = make_event(org_id, title="Leadership Breakfast", slug="leadership-breakfast")
        free = make_ticket_type(event, name="General admission", capacity=200, max_per_order=10)
        paid = make_ticket_type(event, name="Supporter", price_cents=2500, currency="EUR", capacity=50)
        diet = make_question(event, label="Dietary requirements", show_at_door=True)
        company = make_question(event, label="Company", show_at_door=False)
        staff = make_member(org_id, Role.CHECKIN, "door@example.org", events=[event])
        staff.name = "Dora Door"
        db.session.commit()
        info = Door(org_id, event.id, event.slug, free.id, paid.id, diet.id, company.id, staff.id, staff.email)
        db.session.remove()
    return info


def register(event_id: int, type_id: int, *, name: str = "Ada Attendee", email: str | None = None, n: int = 1,
             answers: dict | None = None) -> Order:
    """Register through the real service (inside an app context) and commit."""
    event = db.session.get(Event, event_id)
    order = register_attendees(
        event, buyer_name=name, buyer_email=email or f"guest{next(_seq)}@example.org",
        quantities={type_id: n}, attendees=[{"name": f"{name} guest {i}"} for i in range(1, n)],
        answers=answers or {},
    )
    db.session.commit()
    return order


@pytest.fixture
def tickets(app, door):
    """tickets(name=..., paid=False, n=1, answers=...) -> list of ticket secrets (committed)."""

    def make(*, name: str = "Ada Attendee", email: str | None = None, paid: bool = False, n: int = 1,
             answers: dict | None = None, confirm: bool = False) -> list[str]:
        with app.app_context():
            order = register(door.event_id, door.paid_type_id if paid else door.free_type_id, name=name,
                             email=email, n=n, answers=answers)
            if confirm:  # a paid order whose payment went through (the payment issue's job)
                order.status = OrderStatus.CONFIRMED
                db.session.commit()
            secrets = [t.secret for t in order.tickets]
            db.session.remove()
        return secrets

    return make


def scans(event_id: int | None = None) -> list[Scan]:
    query = select(Scan).order_by(Scan.id)
    if event_id is not None:
        query = query.where(Scan.event_id == event_id)
    return list(db.session.scalars(query))


def scan_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Scan))


def ticket(secret: str) -> Ticket:
    return db.session.scalar(select(Ticket).where(Ticket.secret == secret))


def user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


@pytest.fixture
def staff_client(app, door):
    """A client logged in as the event's check-in staff member, with the screen's CSRF token."""
    client = app.test_client()
    login(client, door.staff_email)
    page = client.get(door.screen)
    assert page.status_code == 200
    client.csrf = csrf_from(page.data)
    return client


def post_scan(client, slug: str, body: dict | bytes, *, content_type: str = "application/json", csrf: str | None = None):
    """The screen's JSON request: body as JSON (a dict) or raw bytes, CSRF token in X-CSRFToken."""
    import json as _json

    data = _json.dumps(body) if isinstance(body, dict) else body
    return client.post(f"/organizer/events/{slug}/checkin/scan", data=data, content_type=content_type,
                       headers={"X-CSRFToken": csrf if csrf is not None else client.csrf, "Accept": "application/json"})
