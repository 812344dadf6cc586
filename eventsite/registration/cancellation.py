"""Cancellation: a live order or one ticket of it ends, its seats go back to the ticket types and the
event, the buyer is told. Views, the API, the payment domain (expired holds, refunds) and tests call
these; `events.services.cancel_event` calls `cancel_orders_of_event` through its hook.

Same conventions as `registration.services` (ARCHITECTURE.md): plain arguments in, `flush()` only,
the caller commits once. Seats are given back in ticket-type-id order and then the event, the order
registrations claim them in (`capacity.give_back`), so two transactions never wait on each other in
a circle.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import select, update

from eventsite.core.db import utcnow
from eventsite.core.errors import DomainError
from eventsite.events import services as event_services
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.registration import emails
from eventsite.registration.capacity import give_back
from eventsite.registration.errors import NotCancellableError, TicketNotEditableError
from eventsite.registration.models import (
    LIVE_ORDER_STATUSES,
    Order,
    OrderStatus,
    Ticket,
    TicketStatus,
)

_orders = Order.__table__
_tickets = Ticket.__table__

# Callbacks fn(ticket_type, n) run after seats of `ticket_type` are given back by a cancellation,
# inside the same transaction (the waitlist offers them). Not run for a cancelled event.
on_seats_released: list[Callable[[TicketType, int], None]] = []


# --- cancel ------------------------------------------------------------------------------------

def lock_order(order_id: int, *, missing: type[DomainError] = TicketNotEditableError) -> Order:
    """The order, row-locked on PostgreSQL (SELECT ... FOR UPDATE) and freshly read with its tickets,
    so whatever changes an order (a cancellation; payments' fulfilment, refund, expiry) runs one at a
    time. Raises `missing` when the order is gone."""
    order = db.session.scalar(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    )
    if order is None:
        raise missing("This order no longer exists.")
    db.session.scalars(
        select(Ticket).where(Ticket.order_id == order_id).execution_options(populate_existing=True)
    ).all()
    return order


def _run_release_hooks(per_type: Mapping[int, int]) -> None:
    for tid in sorted(per_type):
        tt = db.session.get(TicketType, tid)
        for callback in list(on_seats_released):
            callback(tt, per_type[tid])


def void_order(order: Order, *, status: OrderStatus = OrderStatus.CANCELLED, now: datetime | None = None,
               release_hooks: bool = True) -> dict[int, int]:
    """Move a live order to a dead `status`, cancel its valid tickets and give their seats back.

    The building block for cancellation here and for the payment issue (hold expired: EXPIRED;
    refunded: REFUNDED). No email, no paid/unpaid rule: the callers decide. Idempotent: an order that
    is no longer live is left alone and {} is returned. Returns {ticket_type_id: seats released}.
    """
    if status in LIVE_ORDER_STATUSES:
        raise ValueError("void_order needs a dead status")
    now = now or utcnow()
    lock_order(order.id)
    moved = db.session.execute(
        update(_orders)
        .where(_orders.c.id == order.id, _orders.c.status.in_(LIVE_ORDER_STATUSES))
        .values(status=status, cancelled_at=now)
    ).rowcount
    if moved != 1:
        return {}
    released_rows = db.session.execute(
        update(_tickets)
        .where(_tickets.c.order_id == order.id, _tickets.c.status == TicketStatus.VALID)
        .values(status=TicketStatus.CANCELLED, cancelled_at=now)
        .returning(_tickets.c.ticket_type_id)
    ).all()
    per_type = dict(Counter(row[0] for row in released_rows))
    give_back(order.event_id, per_type)
    db.session.expire(order)
    for t in list(order.tickets):
        db.session.expire(t)
    if release_hooks and per_type:
        _run_release_hooks(per_type)
    return per_type


def _ensure_self_cancellable(order: Order, tickets: list[Ticket]) -> None:
    if order.is_paid:
        raise NotCancellableError(
            "A paid order is cancelled whole, with its refund: “Cancel my registration” on the ticket page, "
            "or the organizer's Refund button."
        )
    if any(t.checked_in_at is not None for t in tickets if t.status == TicketStatus.VALID):
        raise NotCancellableError("A ticket that was already used at the door cannot be cancelled.")


def cancel_order(order: Order, *, actor=None, now: datetime | None = None) -> Order:
    """Cancel every ticket of a free order, give the seats back, email the buyer.

    Paid orders raise `NotCancellableError` (refunds are the payment issue's), as does an order one of
    whose tickets was already used. Cancelling a cancelled order does nothing.
    """
    now = now or utcnow()
    order = lock_order(order.id)
    if not order.is_live:
        return order
    _ensure_self_cancellable(order, order.tickets)
    cancelled = order.valid_tickets
    lines = [(t.attendee_name, t.ticket_type.name) for t in cancelled]
    if void_order(order, status=OrderStatus.CANCELLED, now=now):
        emails.queue_cancellation(order, lines, whole_order=True, key=f"cancellation:order:{order.id}")
    return order


def cancel_ticket(ticket: Ticket, *, actor=None, now: datetime | None = None) -> Ticket:
    """Cancel one ticket of a free order, give its seat back, email the buyer.

    When it was the order's last valid ticket the order is cancelled too. Idempotent.
    """
    now = now or utcnow()
    order = lock_order(ticket.order_id)
    if ticket.status == TicketStatus.CANCELLED or not order.is_live:
        return ticket
    _ensure_self_cancellable(order, [ticket])
    if len(order.valid_tickets) == 1:
        cancel_order(order, actor=actor, now=now)
        return ticket
    changed = db.session.execute(
        update(_tickets)
        .where(_tickets.c.id == ticket.id, _tickets.c.status == TicketStatus.VALID,
               _tickets.c.checked_in_at.is_(None))
        .values(status=TicketStatus.CANCELLED, cancelled_at=now)
    ).rowcount
    db.session.expire(ticket)
    if changed != 1:
        return ticket
    per_type = {ticket.ticket_type_id: 1}
    give_back(order.event_id, per_type)
    emails.queue_cancellation(
        order, [(ticket.attendee_name, ticket.ticket_type.name)], whole_order=False,
        key=f"cancellation:ticket:{ticket.id}",
    )
    _run_release_hooks(per_type)
    return ticket


# --- the event is cancelled --------------------------------------------------------------------

def cancel_orders_of_event(event: Event, actor=None) -> int:
    """Called by events.services.cancel_event (same transaction): every live order is cancelled and
    its buyer told. Seats are given back but the waitlist hooks do not run: there is nothing to offer.

    Paid orders are cancelled too; refunding them is the payment issue's (it can find them as
    cancelled orders with total_cents > 0 of a cancelled event). Returns the number of orders."""
    orders = db.session.scalars(
        select(Order).where(Order.event_id == event.id, Order.status.in_(LIVE_ORDER_STATUSES)).order_by(Order.id)
    ).all()
    count = 0
    for order in orders:
        if void_order(order, status=OrderStatus.CANCELLED, release_hooks=False):
            emails.queue_event_cancelled(order, key=f"event-cancelled:{order.id}")
            count += 1
    return count


if cancel_orders_of_event not in event_services.on_event_cancelled:
    event_services.on_event_cancelled.append(cancel_orders_of_event)
