"""Paid orders: fulfilment, and the lookups and locks the other payment modules share. Starting the
checkout is in `checkout.py`, seat holds that end unpaid in `holds.py`, refunds in `refunds.py`,
webhook events in `webhooks.py`; this module re-exports the entry points of the last two.

The life of a paid order
------------------------
`registration.register_attendees` writes it `pending_payment`, its seats claimed like a free order's
and held until `hold_expires_at` (the event's `hold_minutes`, else SEAT_HOLD_MINUTES). Then:

1. `start_checkout(order)` asks Stripe (through `stripe_gateway`, or the dev page's stand-in) for a
   Checkout Session: line items per ticket type at the prices stored on the tickets, her email, the
   order id in the metadata, `expires_at` = the end of the hold, success and cancel URLs, and an
   idempotency key derived from the order. Stripe keeps a session open at least 30 minutes, so a
   shorter hold is extended to the session's end: hold and session always end together (with Stripe
   the registration already holds the seats that long, `paid_hold_end`, so a checkout started at
   once does not write the order again). One session per order: asking again while the hold runs
   returns the same URL.
2. `fulfill_checkout(session)` is THE fulfilment, called by the webhook (`checkout.session.completed`
   when `payment_status` is `paid`, `async_payment_succeeded`) and by the success page, in any order
   and any number of times. It checks the session is ours (session id, order id, amount, currency),
   locks the order row, and does its work once: `Payment.paid_at` is set exactly once under that
   lock. The order is confirmed and the confirmation email (with the amount paid) queued in the same
   transaction. If the hold had already run out and the seats were given back, it claims them again
   with the same conditional UPDATEs as a registration; when they are gone (or the event was
   cancelled, or she has registered again meanwhile) the money goes back automatically and she gets
   an apology.
3. A hold that runs out unpaid is expired: the order becomes `expired`, its tickets cancelled and its
   seats given back through `registration.void_order`, whose release hooks offer them to the
   waitlist. The worker does this every poll (`payments.expire_holds`); and every registration first
   expires the event's holds that ran out (`registration.before_registration`), so a hold past its
   time never blocks a seat or her own new registration even while the worker is down. We expire
   rather than "count them out" because the seat counters then stay the single truth that the
   conditional UPDATE, the event page, the waitlist and the organizer's totals all read, and the
   cost is one indexed query per registration. `checkout.session.expired` and a failed delayed
   payment expire the order the same way; an `expired` that arrives after the payment changes
   nothing.

Stripe is called inside the caller's transaction (the order row locked on PostgreSQL). That keeps
one unit of work per request and makes a retried transaction safe: the retry sends the same
idempotency key with the same parameters (the payment page's token in the cancel URL is derived from
the order, `_payment_token`) and Stripe answers with the same session or refund.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from eventsite.core.db import utcnow
from eventsite.events.display import event_path
from eventsite.events.models import EventStatus, TicketType
from eventsite.extensions import db
from eventsite.payments import providers
from eventsite.payments.errors import UnknownPaymentError
from eventsite.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from eventsite.payments.stripe_gateway import GatewayError
from eventsite.registration import cancellation
from eventsite.registration import emails as registration_emails
from eventsite.registration import services as registration_services
from eventsite.registration.capacity import claim_all
from eventsite.registration.errors import SoldOutError
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus

log = logging.getLogger(__name__)

_orders = Order.__table__
_tickets = Ticket.__table__

SESSION_ID_RE = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")
TOKEN_RE = re.compile(r"^[A-Z0-9]{16,64}$")


@dataclass(frozen=True)
class Fulfilment:
    """What `fulfill_checkout` did: `confirmed`, `confirmed_late` (paid after the hold ran out, seats
    claimed again), `already_fulfilled`, `refunded` / `refund_pending` / `refund_failed` (paid too
    late: money sent back), `not_paid` (completed, money not there yet) or `ignored` (not ours)."""

    outcome: str
    order_id: int | None = None
    note: str = ""


# --- lookups and locks -------------------------------------------------------------------------

def payment_for(order: Order) -> Payment | None:
    return db.session.scalar(select(Payment).where(Payment.order_id == order.id))


def payment_by_token(token: object) -> Payment | None:
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        return None
    return db.session.scalar(select(Payment).where(Payment.token == token))


def payment_by_session_id(session_id: object) -> Payment | None:
    if not isinstance(session_id, str) or not SESSION_ID_RE.match(session_id):
        return None
    return db.session.scalar(select(Payment).where(Payment.checkout_session_id == session_id))


def lock_order(order_id: int) -> Order:
    """The order, row-locked and freshly read with its tickets (`registration.cancellation.lock_order`):
    everything that changes a paid order's state takes this lock first, so they run one at a time."""
    return cancellation.lock_order(order_id, missing=UnknownPaymentError)


# The paid checkout's statements are built once per process (`@cache`) and run with their values as
# parameters: SQLAlchemy keeps a statement's cache key on the statement object, so a statement built
# once is neither rebuilt nor walked again for its key on every request (0.1-0.2 ms of CPU each).

@cache
def _payment_lock_query():
    return (select(Payment).where(Payment.order_id == bindparam("order_id")).with_for_update()
            .execution_options(populate_existing=True))


def lock_payment(order_id: int) -> Payment | None:
    """The order's payment, freshly read (call after `lock_order`, which serializes the writers)."""
    return db.session.scalar(_payment_lock_query(), {"order_id": order_id})


def set_order_status(order: Order, new: OrderStatus, *, from_: tuple[OrderStatus, ...], **values) -> bool:
    """Conditional status change of a (locked) order; True when it moved."""
    moved = db.session.execute(
        update(_orders).where(_orders.c.id == order.id, _orders.c.status.in_(from_)).values(status=new, **values)
    ).rowcount
    db.session.expire(order)
    return moved == 1


def refundable_cents(payment: Payment) -> int:
    """Paid, minus what was refunded, minus refunds on their way."""
    on_the_way = db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount_cents), 0))
        .where(Refund.payment_id == payment.id, Refund.status == RefundStatus.PENDING)
    )
    if not payment.is_paid:
        return 0
    return max(payment.amount_cents - payment.amount_refunded_cents - int(on_the_way or 0), 0)


# --- fulfilment --------------------------------------------------------------------------------

def _payment_intent_id(session: dict) -> str | None:
    pi = session.get("payment_intent")
    if isinstance(pi, dict):
        pi = pi.get("id")
    return pi if isinstance(pi, str) and pi else None


def session_mismatch(payment: Payment, session: dict) -> str | None:
    """Why `session` cannot be this payment's (never a ticket for the wrong money), or None."""
    metadata = session.get("metadata") or {}
    if str(metadata.get("order_id")) != str(payment.order_id):
        return f"metadata order_id {metadata.get('order_id')!r} is not order {payment.order_id}"
    if session.get("amount_total") != payment.amount_cents:
        return f"amount {session.get('amount_total')!r} is not {payment.amount_cents}"
    if str(session.get("currency") or "").upper() != payment.currency.upper():
        return f"currency {session.get('currency')!r} is not {payment.currency}"
    return None


def fulfill_checkout(session: dict, *, now: datetime | None = None) -> Fulfilment:
    """Confirm the order a paid Checkout Session belongs to, once (see the module doc)."""
    now = now or utcnow()
    sid = session.get("id")
    payment = payment_by_session_id(sid)
    if payment is None:
        log.warning("checkout session %r is not one of ours: ignored", sid)
        return Fulfilment("ignored", None, "unknown checkout session")
    problem = session_mismatch(payment, session)
    if problem:
        log.error("checkout session %s does not match order %s (%s): not fulfilled", sid, payment.order_id, problem)
        return Fulfilment("ignored", payment.order_id, problem)
    if session.get("payment_status") != "paid":
        order = lock_order(payment.order_id)
        payment = lock_payment(order.id)
        if payment.status == PaymentStatus.OPEN:
            payment.status = PaymentStatus.PROCESSING
            db.session.flush()
        return Fulfilment("not_paid", order.id, f"payment_status {session.get('payment_status')!r}")

    order = lock_order(payment.order_id)
    payment = lock_payment(order.id)
    if payment.is_paid:
        return Fulfilment("already_fulfilled", order.id)
    payment.paid_at = now
    payment.status = PaymentStatus.PAID
    payment.payment_intent_id = _payment_intent_id(session) or payment.payment_intent_id
    db.session.flush()

    if order.status == OrderStatus.PENDING_PAYMENT:
        # Seats still claimed (even if the hold ran out a moment ago and nobody swept it yet).
        set_order_status(order, OrderStatus.CONFIRMED, from_=(OrderStatus.PENDING_PAYMENT,),
                         confirmed_at=now, hold_expires_at=None)
        registration_emails.queue_confirmation(order, key=registration_services.confirmation_key(order))
        return Fulfilment("confirmed", order.id)

    if order.status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED) and _reinstate(order, now):
        registration_emails.queue_confirmation(order, key=registration_services.confirmation_key(order))
        log.info("order %s paid after its hold ran out: seats claimed again, confirmed", order.id)
        return Fulfilment("confirmed_late", order.id)

    # The seats are gone (or the event is off, or she registered again): the money goes back.
    from eventsite.payments import emails, refunds
    from eventsite.payments.models import RefundReason

    if order.status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED):
        set_order_status(order, OrderStatus.REFUND_PENDING, from_=(OrderStatus.EXPIRED, OrderStatus.CANCELLED))
    else:
        log.error("order %s (%s) was paid through session %s: refunding", order.id, order.status.value, sid)
    amount = refundable_cents(payment)
    emails.queue_late_payment_apology(order, amount, payment.currency)
    refund = refunds.new_refund(order, payment, amount=amount, reason=RefundReason.LATE_PAYMENT, now=now)
    refunds.send_refund(refund, now=now)
    db.session.expire(order)
    log.info("order %s paid after its seats were gone: refund %s %s", order.id, refund.id, refund.status.value)
    outcome = {RefundStatus.SUCCEEDED: "refunded", RefundStatus.FAILED: "refund_failed"}.get(refund.status, "refund_pending")
    return Fulfilment(outcome, order.id)


def _reinstate(order: Order, now: datetime) -> bool:
    """Paid after the hold ran out: claim the seats again and bring the tickets back, if possible."""
    event = order.event
    if event.status == EventStatus.CANCELLED or now >= event.ends_at:
        return False
    if registration_services.live_order_for(event, order.buyer_email) is not None:
        return False  # she registered again meanwhile: one live order per person
    per_type = Counter(t.ticket_type_id for t in order.tickets)
    types = {tt.id: tt for tt in event.ticket_types}
    lines: list[tuple[TicketType, int]] = [(types[tid], n) for tid, n in sorted(per_type.items())]
    try:
        with db.session.begin_nested():
            claim_all(event, lines)
            db.session.execute(
                update(_tickets).where(_tickets.c.order_id == order.id).values(status=TicketStatus.VALID, cancelled_at=None)
            )
            moved = db.session.execute(
                update(_orders)
                .where(_orders.c.id == order.id, _orders.c.status.in_((OrderStatus.EXPIRED, OrderStatus.CANCELLED)))
                .values(status=OrderStatus.CONFIRMED, confirmed_at=now, cancelled_at=None, hold_expires_at=None)
            ).rowcount
            if moved != 1:
                raise SoldOutError("the order changed")  # rolls the savepoint back
    except (SoldOutError, IntegrityError):
        return False
    finally:
        db.session.expire(order)
        for t in list(order.tickets):
            db.session.expire(t)
    return True


def confirm_return(session_id: object, *, now: datetime | None = None) -> Payment:
    """The success page: the payment behind `session_id`; if it is still waiting, ask Stripe for the
    session and fulfil it now when it is paid (the webhook may not have arrived yet).

    Raises `UnknownPaymentError` for a session id that is not one of ours (404).
    """
    payment = payment_by_session_id(session_id)
    if payment is None:
        log.info("success page with an unknown checkout session id %r", str(session_id)[:80])
        raise UnknownPaymentError()
    if payment.is_paid or payment.order.status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED):
        return payment  # settled already: the page shows where it stands
    gw = providers.gateway()
    if gw is None or gw.provider != payment.provider:
        return payment
    try:
        session = gw.retrieve_checkout_session(payment.checkout_session_id)
    except GatewayError as e:
        log.warning("could not fetch checkout session %s: %s", payment.checkout_session_id, e.message)
        return payment
    if session is not None and session.get("id") == payment.checkout_session_id and session.get("payment_status") == "paid":
        fulfill_checkout(session, now=now)
        db.session.expire(payment)
    return payment


def payment_page(token: object) -> Payment:
    payment = payment_by_token(token)
    if payment is None:
        raise UnknownPaymentError()
    return payment


def event_page_path(payment: Payment) -> str:
    return event_path(payment.order.event)


# Re-exported entry points of refunds and webhook events.
from eventsite.payments.refunds import (
    cancel_paid_order,
    refund_order,
    retry_refund,
    send_due_refunds,
)
from eventsite.payments.webhooks import process_webhook

__all__ = [
    "Fulfilment", "cancel_paid_order", "confirm_return", "fulfill_checkout", "payment_for", "payment_page",
    "process_webhook", "refund_order", "retry_refund", "send_due_refunds",
]
