"""Cancelling tickets and orders gives seats back; paid and used tickets are refused; renames; the
event's own cancellation; resending the confirmation."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from eventsite.core.db import utcnow
from eventsite.core.errors import ValidationError
from eventsite.core.mail.deferred import materialize_pending
from eventsite.core.mail.models import OutboxMessage
from eventsite.events.models import EventStatus
from eventsite.events.services import cancel_event
from eventsite.extensions import db
from eventsite.registration import cancellation, services
from eventsite.registration.errors import NotCancellableError, TicketNotEditableError
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus
from tests.factories import make_event, make_ticket_type
from tests.registration.helpers import attachment_bytes, count_rows


def _fresh(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def _keys() -> list[str]:
    return [m.key for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


@pytest.fixture
def released(monkeypatch):
    """Records the on_seats_released calls (the waitlist's hook)."""
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(cancellation, "on_seats_released", [lambda tt, n: calls.append((tt.id, n))])
    return calls


@pytest.fixture
def pair(event, free_type, make_order):
    """An order of two tickets (Ada and Bea) of the free type."""
    return make_order(event, email="ada@example.org", name="Ada", quantities={free_type.id: 2},
                      attendees=[{"name": "Bea", "email": "bea@example.org"}])


def test_cancel_one_ticket_gives_its_seat_back(pair, event, free_type, released):
    ada, bea = pair.tickets
    cancellation.cancel_ticket(bea, actor=None)
    db.session.commit()
    assert _fresh(bea).status == TicketStatus.CANCELLED and _fresh(bea).cancelled_at is not None
    assert _fresh(ada).status == TicketStatus.VALID
    assert _fresh(pair).status == OrderStatus.CONFIRMED
    assert _fresh(free_type).sold == 1 and _fresh(event).sold == 1
    assert released == [(free_type.id, 1)]
    assert _keys() == [f"confirmation:{pair.id}", f"cancellation:ticket:{bea.id}"]
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.key == f"cancellation:ticket:{bea.id}")).one()
    assert "Bea" in mail.text_body and event.title in mail.subject
    assert f"/tickets/{pair.token}" in mail.text_body  # her other ticket is still there

    cancellation.cancel_ticket(_fresh(bea))  # again: nothing more happens
    db.session.commit()
    assert _fresh(free_type).sold == 1 and released == [(free_type.id, 1)] and len(_keys()) == 2


def test_cancelling_the_last_ticket_cancels_the_order(pair, free_type, released):
    ada, bea = pair.tickets
    cancellation.cancel_ticket(bea)
    cancellation.cancel_ticket(ada)
    db.session.commit()
    order = _fresh(pair)
    assert order.status == OrderStatus.CANCELLED and order.cancelled_at is not None
    assert all(t.status == TicketStatus.CANCELLED for t in order.tickets)
    assert _fresh(free_type).sold == 0
    assert released == [(free_type.id, 1), (free_type.id, 1)]
    assert _keys()[-1] == f"cancellation:order:{pair.id}"


def test_cancel_order_gives_every_seat_back_and_emails_once(pair, event, free_type, released, make_order):
    cancellation.cancel_order(pair)
    db.session.commit()
    order = _fresh(pair)
    assert order.status == OrderStatus.CANCELLED
    assert [t.status for t in order.tickets] == [TicketStatus.CANCELLED] * 2
    assert _fresh(free_type).sold == 0 and _fresh(event).sold == 0
    assert released == [(free_type.id, 2)]
    assert _keys() == [f"confirmation:{pair.id}", f"cancellation:order:{pair.id}"]
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.key == f"cancellation:order:{pair.id}")).one()
    assert "Ada" in mail.text_body and "Bea" in mail.text_body and "register again" in mail.text_body

    cancellation.cancel_order(_fresh(pair))  # idempotent
    db.session.commit()
    assert _fresh(free_type).sold == 0 and len(_keys()) == 2
    # The seats are really free again, and so is her email address.
    again = make_order(event, email="ada@example.org")
    assert again.status == OrderStatus.CONFIRMED and _fresh(free_type).sold == 1


def test_paid_orders_are_not_cancelled_here(ctx, org_id):
    event = make_event(org_id)
    paid = make_ticket_type(event, price_cents=1500, capacity=5)
    order = services.register_attendees(event, buyer_name="Ada", buyer_email="ada@example.org", quantities={paid.id: 1})
    db.session.commit()
    for attempt in (lambda: cancellation.cancel_order(order), lambda: cancellation.cancel_ticket(order.tickets[0])):
        with pytest.raises(NotCancellableError) as info:
            attempt()
        assert info.value.code == "not_cancellable" and "refund" in info.value.message
        db.session.rollback()
    assert _fresh(order).status == OrderStatus.PENDING_PAYMENT and _fresh(paid).sold == 1


def test_a_used_ticket_cannot_be_cancelled(pair, free_type):
    ada, bea = pair.tickets
    ada.checked_in_at = utcnow()
    db.session.commit()
    with pytest.raises(NotCancellableError):
        cancellation.cancel_ticket(_fresh(ada))
    db.session.rollback()
    with pytest.raises(NotCancellableError):
        cancellation.cancel_order(_fresh(pair))
    db.session.rollback()
    cancellation.cancel_ticket(_fresh(bea))  # the other one can go
    db.session.commit()
    assert _fresh(free_type).sold == 1


def test_void_order_expires_a_hold_for_the_payment_issue(ctx, org_id, released):
    event = make_event(org_id)
    paid = make_ticket_type(event, price_cents=1500, capacity=5)
    order = services.register_attendees(event, buyer_name="Ada", buyer_email="ada@example.org",
                                        quantities={paid.id: 2}, attendees=[{"name": "Bea"}])
    db.session.commit()
    assert cancellation.void_order(order, status=OrderStatus.EXPIRED) == {paid.id: 2}
    db.session.commit()
    assert _fresh(order).status == OrderStatus.EXPIRED and _fresh(paid).sold == 0
    assert released == [(paid.id, 2)]
    assert cancellation.void_order(_fresh(order), status=OrderStatus.EXPIRED) == {}  # once only
    with pytest.raises(ValueError):
        cancellation.void_order(order, status=OrderStatus.CONFIRMED)


def test_rename_attendee(pair):
    ada, bea = pair.tickets
    services.rename_attendee(bea, "  Beatrice Smith ", "Beatrice@Example.org")
    db.session.commit()
    assert (_fresh(bea).attendee_name, _fresh(bea).attendee_email) == ("Beatrice Smith", "beatrice@example.org")
    services.rename_attendee(_fresh(bea), "Beatrice Smith", "")
    db.session.commit()
    assert _fresh(bea).attendee_email is None

    for name, email, field in (("", None, "name"), ("B\r\nBcc: x@example.org", None, "name"),
                               ("x" * 201, None, "name"), ("Bea", "not-an-email", "email")):
        with pytest.raises(ValidationError) as info:
            services.rename_attendee(_fresh(bea), name, email)
        assert field in info.value.errors
        db.session.rollback()
    assert _fresh(bea).attendee_name == "Beatrice Smith"

    cancellation.cancel_ticket(_fresh(bea))
    db.session.commit()
    with pytest.raises(TicketNotEditableError):
        services.rename_attendee(_fresh(bea), "Someone Else")


def test_cancelling_the_event_cancels_its_orders_and_tells_each_buyer(ctx, org_id, released, make_order):
    event = make_event(org_id, title="Spring Mentoring Circle")
    free = make_ticket_type(event, capacity=10)
    paid = make_ticket_type(event, name="Supporter", price_cents=2000, capacity=10)
    a = make_order(event, email="ada@example.org", quantities={free.id: 2}, attendees=[{"name": "Bea"}])
    b = make_order(event, email="cy@example.org", quantities={paid.id: 1})
    c = make_order(event, email="dee@example.org")
    cancellation.cancel_order(c)
    db.session.commit()
    other = make_event(org_id)
    make_ticket_type(other)
    d = make_order(other, email="ada@example.org")
    released.clear()

    cancel_event(event, actor=None)
    db.session.commit()

    assert _fresh(event).status == EventStatus.CANCELLED
    assert _fresh(a).status == OrderStatus.CANCELLED and _fresh(b).status == OrderStatus.CANCELLED
    assert all(t.status == TicketStatus.CANCELLED for t in _fresh(a).tickets + _fresh(b).tickets)
    assert _fresh(d).status == OrderStatus.CONFIRMED  # another event is untouched
    assert _fresh(free).sold == 0 and _fresh(paid).sold == 0
    assert released == []  # nothing to offer the waitlist of a cancelled event
    notices = db.session.scalars(select(OutboxMessage).where(OutboxMessage.key.like("event-cancelled:%"))).all()
    assert sorted(m.key for m in notices) == sorted([f"event-cancelled:{a.id}", f"event-cancelled:{b.id}"])
    for m in notices:
        assert m.subject == "Event cancelled: Spring Mentoring Circle"
        assert "will not take place" in m.text_body
        ics = attachment_bytes(m.attachments[0])
        assert b"STATUS:CANCELLED" in ics
    paid_notice = next(m for m in notices if m.key == f"event-cancelled:{b.id}")
    assert "payment" in paid_notice.text_body


# --- send my ticket again ----------------------------------------------------------------------

def test_resend_tickets_queues_a_new_confirmation_each_time(event, make_order):
    order = make_order(event, email="ada@example.org")
    assert services.resend_tickets(event, " ADA@example.org") is None
    assert services.resend_tickets(event, "ada@example.org") is None
    db.session.commit()
    assert _keys() == [f"confirmation:{order.id}", f"confirmation-resend:{order.id}:1",
                       f"confirmation-resend:{order.id}:2"]
    materialize_pending()
    rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert rows[1].subject == rows[0].subject and order.tickets[0].secret in rows[1].text_body


@pytest.mark.parametrize("email", ["nobody@example.org", "not an email", "", None, "x" * 300])
def test_resend_tickets_reveals_nothing_for_unknown_addresses(event, make_order, email):
    make_order(event, email="ada@example.org")
    assert services.resend_tickets(event, email) is None
    db.session.commit()
    assert count_rows(OutboxMessage) == 1


def test_resend_tickets_ignores_cancelled_and_unpaid_orders(ctx, org_id, event, make_order):
    cancelled = make_order(event, email="ada@example.org")
    cancellation.cancel_order(cancelled)
    paid = make_ticket_type(event, name="Paid", price_cents=100)
    make_order(event, email="bea@example.org", quantities={paid.id: 1})
    db.session.commit()
    before = count_rows(OutboxMessage)
    services.resend_tickets(event, "ada@example.org")
    services.resend_tickets(event, "bea@example.org")
    db.session.commit()
    assert count_rows(OutboxMessage) == before


def test_organizer_resend_confirmation(event, make_order):
    order = make_order(event)
    assert services.resend_confirmation(order, actor=None) is True
    assert _keys()[-1] == f"confirmation-resend:{order.id}:1"
    cancellation.cancel_order(order)
    with pytest.raises(TicketNotEditableError):
        services.resend_confirmation(_fresh(order))


def test_order_and_ticket_lookups_load_what_the_ticket_page_needs(event, pair):
    found = services.order_by_token(pair.token)
    assert found.id == pair.id and [t.attendee_name for t in found.tickets] == ["Ada", "Bea"]
    assert isinstance(found.tickets[0], Ticket) and isinstance(found, Order)
