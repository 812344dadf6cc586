"""Stripe webhook events: verified, stored by id, then handled, all in one unit of work.

`process_webhook(payload, signature)` is what `/stripe/webhook` runs (inside `run_in_transaction`):

1. The raw body is verified with `stripe.Webhook.construct_event` and the webhook secret
   (`WebhookRejectedError`, 400, for a missing, forged or stale signature: nothing is written).
2. The event is stored by its Stripe id under a unique constraint *before* it is handled, in the
   same transaction. A repeat (Stripe retries, or delivers twice) finds the row and is a no-op; two
   copies arriving at once on PostgreSQL meet at the unique index: the second waits for the first to
   commit and then stops. If handling fails, the whole transaction rolls back, the row with it, and
   the 5xx makes Stripe retry.
3. Handled types (anything else is stored and answered 200, so Stripe stops sending it):
   - `checkout.session.completed`: fulfil when `payment_status` is `paid`; otherwise (a delayed
     payment method) note that the payment is processing;
   - `checkout.session.async_payment_succeeded`: fulfil;
   - `checkout.session.async_payment_failed`: the order expires, seats back, she is told;
   - `checkout.session.expired`: an unpaid order expires; after a payment it changes nothing;
   - `charge.refunded`: settles our pending refunds, and a refund made in Stripe's dashboard cancels
     the order (a ticket is never valid without its money).
   Events about sessions or charges that are not ours are ignored with a log line.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from eventsite.core.db import utcnow
from eventsite.extensions import db
from eventsite.payments import emails, providers
from eventsite.payments.errors import WebhookNotConfiguredError, WebhookRejectedError
from eventsite.payments.holds import expire_order
from eventsite.payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    StripeEvent,
)
from eventsite.payments.services import (
    Fulfilment,
    fulfill_checkout,
    lock_order,
    lock_payment,
    payment_by_session_id,
    session_mismatch,
    set_order_status,
)
from eventsite.payments.stripe_gateway import InvalidSignatureError, construct_event
from eventsite.registration import cancellation as registration_cancellation
from eventsite.registration.models import OrderStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    type: str
    outcome: str
    duplicate: bool = False


def process_webhook(payload: bytes, sig_header: str | None, *, now: datetime | None = None) -> WebhookResult:
    now = now or utcnow()
    secret = providers.webhook_secret()
    if not secret:
        log.error("a Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set: answered 503")
        raise WebhookNotConfiguredError("Webhooks are not configured on this server.")
    try:
        event = construct_event(payload, sig_header, secret)
    except InvalidSignatureError as e:
        log.warning("Stripe webhook refused: %s", e)
        raise WebhookRejectedError(f"Webhook refused: {e}") from None
    event_id, type_ = event["id"][:255], event["type"][:100]

    if db.session.scalar(select(StripeEvent.id).where(StripeEvent.event_id == event_id)) is not None:
        return WebhookResult(event_id, type_, "duplicate", duplicate=True)
    row = StripeEvent(event_id=event_id, type=type_, received_at=now, outcome="")
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:  # the same event, handled by a concurrent delivery that committed first
        return WebhookResult(event_id, type_, "duplicate", duplicate=True)

    handler = HANDLERS.get(type_)
    obj = (event.get("data") or {}).get("object")
    if handler is None or not isinstance(obj, dict):
        row.outcome = "not handled"
        db.session.flush()
        return WebhookResult(event_id, type_, row.outcome)
    outcome, order_id = handler(obj, now)
    row.outcome = outcome[:200]
    row.order_id = order_id
    db.session.flush()
    log.info("Stripe %s %s: %s", type_, event_id, outcome)
    return WebhookResult(event_id, type_, outcome)


# --- handlers: fn(object, now) -> (outcome, order id or None) ------------------------------------

def _ours(session: dict, event_type: str) -> Payment | None:
    payment = payment_by_session_id(session.get("id"))
    if payment is None:
        log.warning("Stripe %s for checkout session %r, which is not one of ours: ignored", event_type,
                    session.get("id"))
        return None
    problem = session_mismatch(payment, session)
    if problem:
        log.error("Stripe %s for session %s does not match order %s (%s): ignored", event_type,
                  session.get("id"), payment.order_id, problem)
        return None
    return payment


def _fulfilment(f: Fulfilment) -> tuple[str, int | None]:
    return (f.outcome + (f": {f.note}" if f.note else ""), f.order_id)


def _completed(session: dict, now: datetime):
    return _fulfilment(fulfill_checkout(session, now=now))


def _async_succeeded(session: dict, now: datetime):
    return _fulfilment(fulfill_checkout(session, now=now))


def _async_failed(session: dict, now: datetime):
    payment = _ours(session, "checkout.session.async_payment_failed")
    if payment is None:
        return "ignored: unknown checkout session", None
    order = lock_order(payment.order_id)
    payment = lock_payment(order.id)
    if payment.is_paid:
        return "ignored: already paid", order.id
    payment.status = PaymentStatus.FAILED
    if order.status == OrderStatus.PENDING_PAYMENT and expire_order(order, now=now, payment_status=PaymentStatus.FAILED):
        emails.queue_payment_failed(order)
        return "payment failed: order expired", order.id
    db.session.flush()
    return "payment failed", order.id


def _expired(session: dict, now: datetime):
    payment = _ours(session, "checkout.session.expired")
    if payment is None:
        return "ignored: unknown checkout session", None
    order = lock_order(payment.order_id)
    payment = lock_payment(order.id)
    if payment.is_paid:
        return "ignored: already paid", order.id  # an `expired` after `completed` cancels nothing
    if order.status == OrderStatus.PENDING_PAYMENT and expire_order(order, now=now):
        return "order expired", order.id
    if payment.status in (PaymentStatus.OPEN, PaymentStatus.PROCESSING):
        payment.status = PaymentStatus.EXPIRED
        db.session.flush()
    return "session expired", order.id


def _charge_refunded(charge: dict, now: datetime):
    pi = charge.get("payment_intent")
    if isinstance(pi, dict):
        pi = pi.get("id")
    payment = db.session.scalar(select(Payment).where(Payment.payment_intent_id == pi)) if isinstance(pi, str) else None
    if payment is None:
        log.warning("Stripe charge.refunded for payment intent %r, which is not one of ours: ignored", pi)
        return "ignored: unknown payment intent", None
    order = lock_order(payment.order_id)
    payment = lock_payment(order.id)
    refunded_total = min(int(charge.get("amount_refunded") or 0), payment.amount_cents)
    if refunded_total <= payment.amount_refunded_cents:
        return "already recorded", order.id

    from eventsite.payments.refunds import _succeeded

    # Our own refunds Stripe has made (their answer was lost, or is still "pending" here).
    extra = refunded_total - payment.amount_refunded_cents
    waiting = db.session.scalars(
        select(Refund).where(Refund.order_id == order.id, Refund.status.in_((RefundStatus.PENDING, RefundStatus.FAILED)))
        .order_by(Refund.id).execution_options(populate_existing=True)
    ).all()
    for refund in waiting:
        if refund.amount_cents <= extra:
            _succeeded(refund, now)
            extra -= refund.amount_cents
    if extra <= 0:
        return "refund settled", order.id

    # Refunded outside eventsite (Stripe's dashboard): record it; a full refund cancels the order.
    payment = lock_payment(order.id)
    refund = Refund(
        order_id=order.id, payment_id=payment.id, amount_cents=extra, currency=payment.currency,
        reason=RefundReason.DASHBOARD, status=RefundStatus.SUCCEEDED,
        idempotency_key=f"eventsite-dashboard-{charge.get('id')}-{refunded_total}"[:255], attempts=0,
        created_at=now, completed_at=now,
    )
    db.session.add(refund)
    payment.amount_refunded_cents = min(payment.amount_cents, payment.amount_refunded_cents + extra)
    db.session.flush()
    if payment.amount_refunded_cents < payment.amount_cents:
        return f"partial refund of {extra} recorded", order.id
    if order.status == OrderStatus.CONFIRMED:
        registration_cancellation.void_order(order, status=OrderStatus.REFUNDED, now=now)
        emails.queue_refund_issued(order, refund)
        return "refunded in the dashboard: order cancelled", order.id
    set_order_status(order, OrderStatus.REFUNDED,
                     from_=(OrderStatus.CANCELLED, OrderStatus.REFUND_PENDING, OrderStatus.REFUND_FAILED))
    return "refunded in the dashboard", order.id


HANDLERS = {
    "checkout.session.completed": _completed,
    "checkout.session.async_payment_succeeded": _async_succeeded,
    "checkout.session.async_payment_failed": _async_failed,
    "checkout.session.expired": _expired,
    "charge.refunded": _charge_refunded,
}
