"""Order codes: 8 characters, unique by index; one already taken gets a new one, nothing else changes."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from eventsite.extensions import db
from eventsite.registration import services
from eventsite.registration.models import Order, OrderStatus, Ticket
from eventsite.registration.services import register_attendees
from tests.factories import make_event, make_ticket_type


def _codes_repeating(monkeypatch, taken: str, times: int) -> list[str]:
    """Make the first `times` order codes drawn equal to `taken`; returns every code drawn."""
    real = services.random_token
    drawn: list[str] = []

    def token(bits: int) -> str:
        if bits != services.CODE_BITS:
            return real(bits)
        drawn.append(taken if len(drawn) < times else real(bits))
        return drawn[-1]

    monkeypatch.setattr(services, "random_token", token)
    return drawn


def _register(event, email):
    return register_attendees(event, buyer_name="Ada Lovelace", buyer_email=email,
                              quantities={event.ticket_types[0].id: 2},
                              attendees=[{"name": "Grace Hopper", "email": ""}])


def test_a_taken_order_code_is_drawn_again_and_the_order_is_whole(ctx, org_id, monkeypatch):
    event = make_event(org_id)
    tt = make_ticket_type(event, capacity=10)
    first = _register(event, "first@example.org")
    db.session.commit()

    drawn = _codes_repeating(monkeypatch, first.code, times=2)
    second = _register(event, "second@example.org")
    db.session.commit()

    assert drawn[:2] == [first.code, first.code] and len(drawn) == 3
    assert second.code == drawn[2] != first.code
    assert second.status == OrderStatus.CONFIRMED
    assert db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.order_id == second.id)) == 2
    assert db.session.scalar(select(func.count()).select_from(Order).where(Order.event_id == event.id)) == 2
    db.session.expire_all()
    assert db.session.get(type(tt), tt.id).sold == 4  # the seats were claimed once, not once per attempt


def test_a_code_taken_at_every_attempt_fails_and_gives_the_seats_back(ctx, org_id, monkeypatch):
    event = make_event(org_id)
    tt = make_ticket_type(event, capacity=10)
    first = _register(event, "first@example.org")
    db.session.commit()

    _codes_repeating(monkeypatch, first.code, times=services.CODE_ATTEMPTS)
    with pytest.raises(IntegrityError):
        _register(event, "second@example.org")
    db.session.expire_all()  # still in the transaction: the seats it claimed were given back in it
    assert db.session.get(type(tt), tt.id).sold == 2
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Order).where(Order.event_id == event.id)) == 1
