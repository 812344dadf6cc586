"""Registration fixtures: an organization, a published event with a free ticket type, and a
`make_order` factory that registers through the real service (so every order in a test is one the
rules could have produced). Data is committed; each test starts from empty tables."""
from __future__ import annotations

from itertools import count

import pytest

from eventsite.extensions import db
from eventsite.registration.models import Order
from eventsite.registration.services import register_attendees
from tests.factories import make_event, make_ticket_type

_seq = count(1)


@pytest.fixture
def org_id(organizer) -> int:
    return organizer["organization_id"]


@pytest.fixture
def event(ctx, org_id):
    """A published event two weeks ahead in Europe/Berlin with one free ticket type (capacity 100)."""
    ev = make_event(org_id)
    make_ticket_type(ev, name="General admission", capacity=100)
    return ev


@pytest.fixture
def free_type(event):
    return event.ticket_types[0]


@pytest.fixture
def make_order():
    """make_order(event, email=..., quantities={tt.id: n} (default 1 of the first type), ...) -> Order,
    registered through register_attendees and committed."""

    def make(event, *, email: str | None = None, name: str = "Ada Attendee", quantities=None,
             attendees=None, answers=None, source="public", now=None) -> Order:
        n = next(_seq)
        order = register_attendees(
            event,
            buyer_name=name,
            buyer_email=email or f"buyer{n}@example.org",
            quantities=quantities or {event.ticket_types[0].id: 1},
            attendees=attendees,
            answers=answers,
            source=source,
            now=now,
        )
        db.session.commit()
        return order

    return make
