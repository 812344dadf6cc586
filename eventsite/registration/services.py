"""Registration rules: register, resend, rename. Views, the API, the worker and tests call these;
cancelling is `registration.cancellation`'s.

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
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.registration import emails
from eventsite.registration.capacity import claim_all, give_back
from eventsite.registration.errors import (
    AlreadyRegisteredError,
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

    if not paid:  # confirmed at once; a paid order's confirmation waits for its payment
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


# --- rename ------------------------------------------------------------------------------------

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
