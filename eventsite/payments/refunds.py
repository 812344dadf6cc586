"""Refunds: the organizer's button, her own cancellation within the policy, automatic ones.

States. A refund is a `Refund` row and moves the order with it:
- asked: order `refund_pending` (its tickets cancelled and seats given back at that moment, so a
  refunded ticket can never be used at the door), refund `pending`;
- Stripe accepted it (`succeeded`, or `pending` at Stripe, which settles on its own): refund
  `succeeded`, order `refunded`, she gets an email with the amount;
- Stripe refused it (or stayed unreachable after a few automatic tries): refund `failed` with
  Stripe's message, order `refund_failed`. The organizer sees it on the event's Payments page and
  retries with one click.

Idempotency. Each attempt at Stripe carries `Refund.idempotency_key`
(`eventsite-refund-<order code>-<n>-<attempt>`). Repeating an attempt (a transaction retried after a
deadlock, a worker that died after the call, an answer lost on the network) sends the same key, so
Stripe refunds once. A transient failure (no answer, a 5xx, a rate limit) keeps the refund
`pending` and the worker tries again after a backoff. The key changes only when Stripe *answered*
(a refusal, or a 5xx, which Stripe replays for the same key); an attempt that got no answer is resent
with its own key, since Stripe may have made it. Stripe never refunds more than was paid, and a
"charge already refunded" answer counts as done.

The Stripe call happens inside the caller's transaction, with the order row locked: the same unit
of work records what Stripe answered. If that transaction is lost after Stripe refunded, the
`charge.refunded` webhook (webhooks.py) records the refund and cancels the order.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select

from eventsite.core.db import begin_write, utcnow
from eventsite.extensions import db
from eventsite.payments import emails, providers
from eventsite.payments.errors import NotRefundableError
from eventsite.payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
)
from eventsite.payments.policy import CancellationQuote, quote_cancellation
from eventsite.payments.services import (
    lock_order,
    lock_payment,
    refundable_cents,
    set_order_status,
)
from eventsite.payments.stripe_gateway import GatewayError
from eventsite.registration import cancellation as registration_cancellation
from eventsite.registration import emails as registration_emails
from eventsite.registration.errors import NotCancellableError
from eventsite.registration.models import Order, OrderStatus, TicketStatus

log = logging.getLogger(__name__)

MAX_AUTOMATIC_ATTEMPTS = 5
REFUND_BATCH = 20
REFUNDABLE_ORDER_STATES = (OrderStatus.CONFIRMED, OrderStatus.CANCELLED)


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def new_refund(order: Order, payment: Payment, *, amount: int, reason: RefundReason, now: datetime,
               actor=None) -> Refund:
    """A `pending` refund of `amount` (the caller has moved the order to `refund_pending`)."""
    seq = 1 + int(db.session.scalar(select(func.count()).select_from(Refund).where(Refund.order_id == order.id)) or 0)
    refund = Refund(
        order_id=order.id, payment_id=payment.id, amount_cents=amount, currency=payment.currency, reason=reason,
        status=RefundStatus.PENDING, idempotency_key=f"eventsite-refund-{order.code}-{seq}-1", attempts=0,
        next_attempt_at=now, requested_by_id=getattr(actor, "id", None), created_at=now,
    )
    db.session.add(refund)
    db.session.flush()
    return refund


def _next_key(refund: Refund) -> str:
    base, _, _ = refund.idempotency_key.rpartition("-")
    return f"{base}-{refund.attempts + 1}"


def _succeeded(refund: Refund, now: datetime) -> None:
    refund.status = RefundStatus.SUCCEEDED
    refund.completed_at = now
    refund.next_attempt_at = None
    refund.failure_message = None
    payment = lock_payment(refund.order_id)  # fresh: the order lock serializes its writers
    payment.amount_refunded_cents = min(payment.amount_cents, payment.amount_refunded_cents + refund.amount_cents)
    order = refund.order
    set_order_status(order, OrderStatus.REFUNDED, from_=(OrderStatus.REFUND_PENDING, OrderStatus.REFUND_FAILED))
    if refund.reason != RefundReason.LATE_PAYMENT:  # the apology already said the money is coming back
        emails.queue_refund_issued(order, refund)
    db.session.flush()


def _failed(refund: Refund, message: str, *, retryable: bool, new_key: bool, now: datetime) -> None:
    """Record a failed attempt. `retryable`: worth trying again by itself (the worker does, with a
    backoff, up to MAX_AUTOMATIC_ATTEMPTS). `new_key`: Stripe answered, and replays that answer for
    the key, so the next attempt must be a new request; otherwise (no answer) it resends the key."""
    refund.failure_message = message[:2000]
    if new_key:
        refund.idempotency_key = _next_key(refund)
    if retryable and refund.attempts < MAX_AUTOMATIC_ATTEMPTS:
        refund.next_attempt_at = now + _backoff(refund.attempts)
        log.warning("refund %s of order %s: %s; trying again at %s", refund.id, refund.order_id, message,
                    refund.next_attempt_at.isoformat())
    else:
        refund.status = RefundStatus.FAILED
        refund.next_attempt_at = None
        set_order_status(refund.order, OrderStatus.REFUND_FAILED, from_=(OrderStatus.REFUND_PENDING,))
        log.warning("refund %s of order %s failed: %s", refund.id, refund.order_id, message)
    db.session.flush()


def send_refund(refund: Refund, *, now: datetime | None = None) -> Refund:
    """Ask Stripe for a pending refund and record the answer (the caller holds the order lock)."""
    now = now or utcnow()
    if refund.status != RefundStatus.PENDING:
        return refund
    payment = lock_payment(refund.order_id)
    gw = providers.gateway()
    if gw is None or gw.provider != payment.provider:
        _failed(refund, "Refunds cannot be sent: the payment provider this order was paid through is not "
                        "configured (STRIPE_SECRET_KEY).", retryable=False, new_key=False, now=now)
        return refund
    if not payment.payment_intent_id:
        _failed(refund, "No Stripe payment is recorded for this order, so there is nothing to refund at Stripe.",
                retryable=False, new_key=False, now=now)
        return refund
    refund.attempts += 1
    db.session.flush()
    try:
        result = gw.create_refund(
            payment_intent=payment.payment_intent_id, amount=refund.amount_cents,
            metadata={"order_id": str(refund.order_id), "refund_id": str(refund.id), "reason": refund.reason.value},
            idempotency_key=refund.idempotency_key,
        )
    except GatewayError as e:
        if e.code == "charge_already_refunded":
            log.info("refund %s: Stripe says the charge is already refunded", refund.id)
            _succeeded(refund, now)
        else:  # a refusal or a 5xx was answered (and is replayed for this key); no answer: same key again
            _failed(refund, e.message, retryable=e.retryable, new_key=e.http_status is not None
                    and (not e.retryable or e.http_status >= 500), now=now)
        return refund
    status = result.get("status")
    refund.stripe_refund_id = result.get("id") if isinstance(result.get("id"), str) else None
    if status in ("failed", "canceled"):
        reason = str(result.get("failure_reason") or status).replace("_", " ")
        _failed(refund, f"Stripe could not make the refund: {reason}.", retryable=False, new_key=True, now=now)
    else:  # succeeded, or pending/requires_action at Stripe: accepted, it settles on Stripe's side
        _succeeded(refund, now)
    return refund


# --- the organizer -----------------------------------------------------------------------------

def refund_order(order: Order, *, actor, now: datetime | None = None) -> Refund:
    """The organizer's one-click refund of everything still refundable on a paid order.

    A confirmed order is cancelled at once (tickets void, seats back to sale or the waitlist); a
    failed refund is retried instead. Raises `NotRefundableError` when there is nothing to refund.
    """
    now = now or utcnow()
    order = lock_order(order.id)
    if order.status == OrderStatus.REFUND_FAILED:
        return retry_refund(order, actor=actor, now=now)
    payment = lock_payment(order.id)
    if payment is None or not payment.is_paid:
        raise NotRefundableError("This order has no payment to refund.")
    if order.status == OrderStatus.REFUND_PENDING:
        raise NotRefundableError("A refund of this order is already on its way.")
    if order.status not in REFUNDABLE_ORDER_STATES:
        raise NotRefundableError("This order has already been refunded.")
    amount = refundable_cents(payment)
    if amount <= 0:
        raise NotRefundableError("This order has already been refunded in full.")
    if order.status == OrderStatus.CONFIRMED:
        registration_cancellation.void_order(order, status=OrderStatus.REFUND_PENDING, now=now)
    else:
        set_order_status(order, OrderStatus.REFUND_PENDING, from_=(OrderStatus.CANCELLED,))
    refund = new_refund(order, payment, amount=amount, reason=RefundReason.ORGANIZER, now=now, actor=actor)
    return send_refund(refund, now=now)


def retry_refund(order: Order, *, actor=None, now: datetime | None = None) -> Refund:
    """Try a failed refund again (same amount; a new idempotency key after a refusal)."""
    now = now or utcnow()
    order = lock_order(order.id)
    if order.status != OrderStatus.REFUND_FAILED:
        raise NotRefundableError("Only a failed refund can be retried.")
    refund = db.session.scalar(
        select(Refund).where(Refund.order_id == order.id, Refund.status == RefundStatus.FAILED)
        .order_by(Refund.id.desc()).limit(1).execution_options(populate_existing=True)
    )
    if refund is None:
        raise NotRefundableError("There is no failed refund to retry.")
    refund.status = RefundStatus.PENDING
    refund.next_attempt_at = now
    if actor is not None:
        refund.requested_by_id = actor.id
    set_order_status(order, OrderStatus.REFUND_PENDING, from_=(OrderStatus.REFUND_FAILED,))
    db.session.flush()
    return send_refund(refund, now=now)


# --- the attendee ------------------------------------------------------------------------------

def cancellation_quote(order: Order, *, now: datetime | None = None) -> CancellationQuote:
    """What cancelling this paid order would do now, by the event's refund policy."""
    now = now or utcnow()
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    if order.status != OrderStatus.CONFIRMED or payment is None or not payment.is_paid:
        return CancellationQuote(False, 0, order.currency, "This registration cannot be cancelled here.")
    checked_in = any(t.checked_in_at is not None for t in order.tickets if t.status == TicketStatus.VALID)
    return quote_cancellation(order.event, paid_cents=refundable_cents(payment), currency=payment.currency,
                              checked_in=checked_in, now=now)


def cancel_paid_order(order: Order, *, now: datetime | None = None) -> Refund | None:
    """She cancels her paid order on her ticket page: every ticket is cancelled, the seats go back,
    and she gets the refund the policy allows now (the Refund), or none (None).

    Raises `NotCancellableError` (already used at the door, the event has started, not a paid
    confirmed order). Cancelling again does nothing.
    """
    now = now or utcnow()
    order = lock_order(order.id)
    if not order.is_live:
        return None
    quote = cancellation_quote(order, now=now)
    if not quote.allowed:
        raise NotCancellableError(quote.message)
    payment = lock_payment(order.id)
    if quote.refund_cents > 0:
        registration_cancellation.void_order(order, status=OrderStatus.REFUND_PENDING, now=now)
        refund = new_refund(order, payment, amount=quote.refund_cents, reason=RefundReason.ATTENDEE, now=now)
        return send_refund(refund, now=now)
    lines = [(t.attendee_name, t.ticket_type.name) for t in order.valid_tickets]
    if registration_cancellation.void_order(order, status=OrderStatus.CANCELLED, now=now):
        registration_emails.queue_cancellation(order, lines, whole_order=True, key=f"cancellation:order:{order.id}")
    return None


# --- automatic ---------------------------------------------------------------------------------

def refund_cancelled_event(event, actor=None) -> int:
    """`events.on_event_cancelled`, after registration cancelled the orders (same transaction): every
    paid order gets a full refund, sent by the worker within a poll. Returns how many."""
    now = utcnow()
    rows = db.session.execute(
        select(Order.id).join(Payment, Payment.order_id == Order.id)
        .where(Order.event_id == event.id, Order.status == OrderStatus.CANCELLED, Payment.paid_at.is_not(None))
        .order_by(Order.id)
    ).scalars().all()
    count = 0
    for order_id in rows:
        order = lock_order(order_id)
        payment = lock_payment(order_id)
        amount = refundable_cents(payment)
        if amount <= 0 or not set_order_status(order, OrderStatus.REFUND_PENDING, from_=(OrderStatus.CANCELLED,)):
            continue
        new_refund(order, payment, amount=amount, reason=RefundReason.EVENT_CANCELLED, now=now, actor=actor)
        count += 1
    if count:
        log.info("event %s cancelled: %d refund(s) queued", event.id, count)
    return count


def _due(now: datetime):
    return select(Refund.id).where(Refund.status == RefundStatus.PENDING, Refund.next_attempt_at <= now)


def send_due_refunds(now: datetime | None = None, *, limit: int = REFUND_BATCH) -> int:
    """Send pending refunds whose time has come (event cancellations, transient failures)."""
    now = now or utcnow()
    ids = db.session.scalars(
        _due(now).order_by(Refund.next_attempt_at, Refund.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    sent = 0
    for refund_id in ids:
        refund = db.session.get(Refund, refund_id)
        lock_order(refund.order_id)
        refund = db.session.scalar(
            select(Refund).where(Refund.id == refund_id).execution_options(populate_existing=True)
        )
        if refund.status == RefundStatus.PENDING and refund.next_attempt_at and refund.next_attempt_at <= now:
            send_refund(refund, now=now)
            sent += 1
    return sent


def send_due_refunds_task(now: datetime) -> int:
    if not db.session.scalar(select(exists(_due(now)))):
        return 0
    begin_write(db.session)
    return send_due_refunds(now)


__all__ = [
    "PaymentStatus", "cancel_paid_order", "cancellation_quote", "new_refund", "refund_cancelled_event",
    "refund_order", "retry_refund", "send_due_refunds", "send_refund",
]
