"""Registration rules: register, resend, cancel, rename. Views, the API, the worker and tests call these.

Conventions (ARCHITECTURE.md): plain arguments in, the actor as an argument, `ValidationError` with
the form's field names on bad input, other refusals as `DomainError`s with a code, `flush()` only:
the caller commits once, preferably through `core.db.run_in_transaction`, which on SQLite takes the
writer lock first and retries transient conflicts on both databases.

Capacity is never read-then-written. A registration claims seats with one conditional UPDATE per
ticket type and one on the event, in ticket-type-id order and then the event (the same order
cancellations release in, so two transactions never wait on each other in a circle):

    UPDATE ticket_types SET sold = sold + :n WHERE id = :id AND sold + :n <= capacity
    UPDATE events SET sold = sold + :n WHERE id = :id AND (capacity IS NULL OR sold + :n <= capacity)

and checks the row count. `events.sold` is kept even when the event has no capacity, so that an
organizer who sets one later is checked against the true number (events.services relies on it).
On PostgreSQL the row lock makes a concurrent claim wait and re-check the condition; on SQLite there
is one writer at a time. The CHECK constraint `sold <= capacity` on ticket types is the last guard.

Form field names used in `ValidationError.errors` (the lead wires the form with these):
`name`, `email`, `quantity` (no ticket chosen, or too many in all), `quantity-<ticket type id>`,
`attendee-<i>-name` / `attendee-<i>-email` (i = 1 for the second ticket, 2 for the third, ...),
`question-<question id>`, and `__all__`.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from eventsite.core.db import utcnow
from eventsite.core.errors import ValidationError
from eventsite.core.security import random_token
from eventsite.events import services as event_services
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.registration import emails

# Callbacks fn(ticket_type, n) run after seats of `ticket_type` are given back by a cancellation,
# inside the same transaction (the waitlist offers them). Not run for a cancelled event.
from eventsite.registration.capacity import claim_all, give_back
from eventsite.registration.errors import (
    AlreadyRegisteredError,
    NotCancellableError,
    TicketNotEditableError,
)
from eventsite.registration.models import (
    LIVE_ORDER_STATUSES,
    Order,
    OrderSource,
    OrderStatus,
    Ticket,
    TicketStatus,
)
from eventsite.registration.validation import (
    MAX_TICKETS_PER_ORDER,
    check_open,
    clean_answers,
    clean_attendees,
    clean_email,
    clean_name,
    clean_quantities,
    int_or_error,
)

DEFAULT_HOLD_MINUTES = 30
SECRET_BITS = 130  # 26 characters of the 32-letter alphabet
TOKEN_BITS = 130
CODE_BITS = 40  # 8 characters: a human reference, not a secret
CODE_ATTEMPTS = 3  # an order code already taken gets a new one (the unique index tells)

_orders = Order.__table__
_tickets = Ticket.__table__

on_seats_released: list[Callable[[TicketType, int], None]] = []

# Callbacks fn(event, now) run by register_attendees, in its transaction, after the input is valid and
# before it looks for her live order and claims seats. The payment domain expires the event's seat
# holds that ran out there ("expired on read"), so an abandoned checkout the worker has not swept yet
# blocks neither a seat nor her own new registration.
before_registration: list[Callable[[Event, datetime], None]] = []

# Set by the payment domain: fn(event, now, end) -> when a new paid order's seat hold ends, given the
# end the hold settings give (`_hold_minutes` from now). With Stripe it is already as long as the
# Checkout Session will have to be, so that starting the checkout a moment later need not move it.
paid_hold_end: Callable[[Event, datetime, datetime], datetime] | None = None



# --- lookups -----------------------------------------------------------------------------------

def _live_orders(event: Event, email: str):
    return Order.event_id == event.id, Order.buyer_email == email, Order.status.in_(LIVE_ORDER_STATUSES)


def live_order_for(event: Event, email: str) -> Order | None:
    """The live order of `email` (already normalized) for `event`, if any."""
    return db.session.scalar(select(Order).where(*_live_orders(event, email)))


@cache
def _live_order_query():
    """Built once per process: a statement object keeps its SQLAlchemy cache key, so each registration
    skips building it and walking it for the key."""
    return select(Order.id).where(Order.event_id == bindparam("event_id"), Order.buyer_email == bindparam("email"),
                                  Order.status.in_(LIVE_ORDER_STATUSES)).limit(1)


def has_live_order(event: Event, email: str) -> bool:
    """`live_order_for` when only whether there is one matters (no order loaded)."""
    return db.session.scalar(_live_order_query(), {"event_id": event.id, "email": email}) is not None


def order_by_token(token: str) -> Order | None:
    """The order behind a ticket page link; None for anything that is not a live-or-dead order's token."""
    if not isinstance(token, str) or not (16 <= len(token) <= 64):
        return None
    return db.session.scalar(
        select(Order).where(Order.token == token).options(selectinload(Order.tickets).selectinload(Ticket.ticket_type))
    )


def ticket_by_secret(secret: str) -> Ticket | None:
    if not isinstance(secret, str) or not (16 <= len(secret) <= 64):
        return None
    return db.session.scalar(select(Ticket).where(Ticket.secret == secret.strip().upper()))


def ticket_slots(event: Event, quantities: Mapping[Any, Any]) -> list[TicketType]:
    """Which ticket type each seat of an order is, in the order attendees are given: slot 0 is the
    buyer's own ticket, slot i (i >= 1) belongs to `attendee-<i>-*`. For labelling the form."""
    def wanted(tt: TicketType) -> int:
        raw = quantities.get(tt.id, quantities.get(str(tt.id), 0))
        n = int_or_error(raw)
        return min(max(n or 0, 0), MAX_TICKETS_PER_ORDER)

    return [tt for tt in event.ticket_types for _ in range(wanted(tt))]


def _hold_minutes(event: Event | None = None) -> int:
    """How long a paid order's seats are held: the event's own setting, else SEAT_HOLD_MINUTES."""
    if event is not None and event.hold_minutes:
        return int(event.hold_minutes)
    return int(current_app.config.get("SEAT_HOLD_MINUTES") or DEFAULT_HOLD_MINUTES)


def _hold_end(event: Event, now: datetime) -> datetime:
    """When a new paid order's seats stop being held (see `paid_hold_end`)."""
    end = now + timedelta(minutes=_hold_minutes(event))
    return paid_hold_end(event, now, end) if paid_hold_end is not None else end


# --- register ----------------------------------------------------------------------------------

def register_attendees(
    event: Event,
    *,
    buyer_name: str,
    buyer_email: str,
    quantities: Mapping[Any, Any],
    attendees: Iterable[Mapping[str, Any]] | None = None,
    answers: Mapping[Any, Any] | None = None,
    now: datetime | None = None,
    source: OrderSource | str = OrderSource.PUBLIC,
    terms_accepted: bool = False,
) -> Order:
    """Register `buyer_name` <`buyer_email`> for `event`: validate, claim seats, write the order.

    `quantities` maps ticket type ids (int or the form's string) to how many; the first ticket is the
    buyer's, `attendees` gives `{"name", "email"}` for each further ticket (see `ticket_slots`).
    `answers` maps question ids to a string (text, single choice), a list of strings (multiple
    choice) or a boolean / form value (checkbox).

    A free order is confirmed at once and its confirmation email is queued in the same transaction.
    A paid order is created `pending_payment` with its seats held until `hold_expires_at`
    (SEAT_HOLD_MINUTES, default 30); the payment issue takes it from there. Complimentary orders
    (source="complimentary", the organizer's) are free whatever the price, may use hidden ticket
    types and ignore the sale and registration windows and required questions, but count against
    capacity like any other.

    `terms_accepted`: she ticked the consent box for the event's terms (the form passes it; the form
    refuses to post without it when the event has terms). When the event has a `terms_url`, the order
    records when she agreed and to which address (`terms_accepted_at`, `terms_url`); complimentary
    orders and events without terms leave both empty.

    Raises `RegistrationClosedError`, `ValidationError` (field names in the module doc),
    `AlreadyRegisteredError`, `SoldOutError`. When it raises, nothing of it remains in the session's
    transaction (seats claimed before a failure are given back in the same transaction).
    """
    now = now or utcnow()
    source = OrderSource(source)
    complimentary = source == OrderSource.COMPLIMENTARY
    check_open(event, now, source)

    errors: dict[str, str] = {}
    name = clean_name(buyer_name, "name", errors)
    email = clean_email(buyer_email, "email", errors)
    lines = clean_quantities(event, quantities, errors, complimentary=complimentary, now=now)
    slots = [tt for tt, n in lines for _ in range(n)]
    quantity_ok = not any(k == "quantity" or k.startswith("quantity-") for k in errors)
    people = clean_attendees(attendees, max(len(slots) - 1, 0) if quantity_ok else 0, errors) if quantity_ok else []
    answer_values = clean_answers(event, answers, errors, enforce_required=not complimentary)
    if errors:
        raise ValidationError(errors)
    assert email is not None

    for callback in list(before_registration):
        callback(event, now)

    if has_live_order(event, email):
        raise AlreadyRegisteredError()

    prices = {tt.id: (0 if complimentary else tt.price_cents) for tt, _ in lines}
    # Seats first: a rush turns most people away here, before anything of an order is made.
    claim_all(event, lines)

    total_cents = sum(prices[tt.id] * n for tt, n in lines)
    paid_types = [tt for tt, _ in lines if prices[tt.id] > 0]
    paid = total_cents > 0
    consented = bool(terms_accepted) and not complimentary and bool(event.terms_url)
    values = dict(
        event=event,
        buyer_name=name,
        buyer_email=email,
        status=OrderStatus.PENDING_PAYMENT if paid else OrderStatus.CONFIRMED,
        source=source,
        total_cents=total_cents,
        currency=paid_types[0].currency if paid_types else event.currency,
        answers=answer_values,
        hold_expires_at=_hold_end(event, now) if paid else None,
        created_at=now,
        confirmed_at=None if paid else now,
        confirmation_count=0,
        terms_accepted_at=now if consented else None,
        terms_url=event.terms_url if consented else None,
    )
    holders = list(zip(slots, [(name, email)] + people))
    for attempt in range(1, CODE_ATTEMPTS + 1):
        order = Order(code=random_token(CODE_BITS), token=random_token(TOKEN_BITS), **values)
        for tt, (holder_name, holder_email) in holders:
            Ticket(
                order=order,
                event_id=event.id,
                ticket_type=tt,
                secret=random_token(SECRET_BITS),
                attendee_name=holder_name,
                attendee_email=holder_email,
                price_cents=prices[tt.id],
                status=TicketStatus.VALID,
                created_at=now,
            )
        # The unique indexes settle what no check before the insert could: the race two identical
        # requests can run on PostgreSQL (both passed the check above: the second insert waits for
        # the first to commit, then fails here), and an order code already taken (40 bits: about
        # one order in a trillion), which gets a new code.
        try:
            with db.session.begin_nested():
                db.session.add(order)  # and its tickets
                db.session.flush()
            break
        except IntegrityError:
            duplicate = has_live_order(event, email)
            if duplicate or attempt == CODE_ATTEMPTS:
                give_back(event.id, {tt.id: n for tt, n in lines})
                if duplicate:
                    raise AlreadyRegisteredError() from None
                raise

    confirmed = order.status == OrderStatus.CONFIRMED
    if confirmed:
        emails.queue_confirmation(order, key=confirmation_key(order))
    return order


def confirmation_key(order: Order) -> str:
    """The outbox key of an order's first confirmation (the payment issue queues it after payment)."""
    return f"confirmation:{order.id}"


# --- send my ticket again ----------------------------------------------------------------------

def _bump_confirmation_count(order: Order) -> int:
    n = db.session.execute(
        update(_orders).where(_orders.c.id == order.id)
        .values(confirmation_count=_orders.c.confirmation_count + 1)
        .returning(_orders.c.confirmation_count)
    ).scalar_one()
    db.session.expire(order, ["confirmation_count"])
    return n


def resend_confirmation(order: Order, *, actor=None) -> bool:
    """Queue the confirmation of a confirmed order again (the organizer's "resend")."""
    if order.status != OrderStatus.CONFIRMED or not order.valid_tickets:
        raise TicketNotEditableError("Only a confirmed order with valid tickets can be sent again.")
    n = _bump_confirmation_count(order)
    return emails.queue_confirmation(order, key=f"confirmation-resend:{order.id}:{n}")


def resend_tickets(event: Event, email: str) -> None:
    """"Send my ticket again": re-queue the confirmation if `email` has a confirmed order for `event`.

    Returns nothing and raises nothing for an unknown, cancelled or malformed address, so the caller
    shows the same message either way and the page reveals nothing about who is registered.
    Rate limiting is the view's job.
    """
    errors: dict[str, str] = {}
    normalized = clean_email(email, "email", errors)
    if normalized is None:
        return None
    order = live_order_for(event, normalized)
    if order is None or order.status != OrderStatus.CONFIRMED or not order.valid_tickets:
        return None
    n = _bump_confirmation_count(order)
    emails.queue_confirmation(order, key=f"confirmation-resend:{order.id}:{n}")
    return None


# --- cancel ------------------------------------------------------------------------------------

def _lock_order(order_id: int) -> Order:
    """The order, row-locked on PostgreSQL (SELECT ... FOR UPDATE) and freshly read with its tickets,
    so cancellations of the same order run one after the other."""
    order = db.session.scalar(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    )
    if order is None:
        raise TicketNotEditableError("This order no longer exists.")
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
    _lock_order(order.id)
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
    order = _lock_order(order.id)
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
    order = _lock_order(ticket.order_id)
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


def rename_attendee(ticket: Ticket, name: str, email: str | None = None, *, actor=None) -> Ticket:
    """Put another person's name (and optional email; blank removes it) on a valid ticket."""
    errors: dict[str, str] = {}
    clean = clean_name(name, "name", errors)
    clean_mail = clean_email(email, "email", errors, required=False)
    if errors:
        raise ValidationError(errors)
    if ticket.status != TicketStatus.VALID or not ticket.order.is_live:
        raise TicketNotEditableError("A cancelled ticket cannot be changed.")
    ticket.attendee_name = clean
    ticket.attendee_email = clean_mail
    db.session.flush()
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
