"""Seat holds that end unpaid: step 3 of the life of a paid order (see `services`).

A hold that ran out is expired (`expire_holds`): by the worker's job `payments.expire_holds` every
poll, and by every registration first for its event (`registration.before_registration`), so a hold
past its time never blocks a seat. `expire_order` is also how a `checkout.session.expired` webhook
or a failed delayed payment ends an order (`webhooks`), and `release_hold` is her giving up on
paying from her payment page.
"""
from __future__ import annotations

import logging
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, exists, select, update

from eventsite.core.db import begin_write, utcnow
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.payments import providers
from eventsite.payments.errors import UnknownPaymentError
from eventsite.payments.models import Payment, PaymentStatus
from eventsite.payments.services import lock_order, lock_payment, payment_by_token
from eventsite.payments.stripe_gateway import GatewayError
from eventsite.registration import cancellation as registration_cancellation
from eventsite.registration.models import Order, OrderStatus

log = logging.getLogger(__name__)

_payments = Payment.__table__

HOLD_SWEEP_BATCH = 200


def _expired_holds(now: datetime, event_id: int | None):
    q = select(Order.id).where(Order.status == OrderStatus.PENDING_PAYMENT, Order.hold_expires_at <= now)
    if event_id is not None:
        q = q.where(Order.event_id == event_id)
    return q


def expire_order(order: Order, *, now: datetime, payment_status: PaymentStatus = PaymentStatus.EXPIRED) -> bool:
    """A pending order that will not be paid: `expired`, tickets cancelled, seats back (waitlist
    hooks run). True when it moved. The caller holds the order lock."""
    if not registration_cancellation.void_order(order, status=OrderStatus.EXPIRED, now=now):
        return False
    db.session.execute(
        update(_payments)
        .where(_payments.c.order_id == order.id, _payments.c.paid_at.is_(None),
               _payments.c.status.in_((PaymentStatus.OPEN, PaymentStatus.PROCESSING)))
        .values(status=payment_status, updated_at=now)
    )
    return True


def expire_holds(now: datetime | None = None, *, event: Event | None = None, limit: int = HOLD_SWEEP_BATCH,
                 wait: bool = False) -> int:
    """Expire pending orders whose hold ran out (of one event, or all); returns how many.

    The worker skips rows another transaction is working on (FOR UPDATE SKIP LOCKED on PostgreSQL):
    they are paid, or swept by that transaction, or swept next time. A registration waits for them
    instead (`wait=True`): had it skipped a hold another registration is expiring right now, it would
    read the seats as still taken and answer "sold out" a moment before they come back. It waits
    holding no other lock yet (this is the first thing its transaction does), and the rows are locked
    in one order (hold end, id), so two registrations queue rather than deadlock; once the first
    commits, the second's SELECT re-checks `status` and finds those orders gone.
    """
    now = now or utcnow()
    ids = db.session.scalars(
        _expired_holds(now, event.id if event is not None else None)
        .order_by(Order.hold_expires_at, Order.id).limit(limit).with_for_update(skip_locked=not wait)
    ).all()
    count = 0
    for order_id in ids:
        order = lock_order(order_id)
        if order.status == OrderStatus.PENDING_PAYMENT and order.hold_expires_at and order.hold_expires_at <= now:
            count += expire_order(order, now=now)
    if count:
        log.info("expired %d seat hold(s)%s", count, f" of event {event.id}" if event is not None else "")
    return count


@cache
def _any_expired_hold_query():
    return select(exists(_expired_holds(bindparam("now"), None)))


def _any_hold_ran_out(now: datetime) -> bool:
    """Whether any pending order's hold has run out (one indexed EXISTS)."""
    return bool(db.session.scalar(_any_expired_hold_query(), {"now": now}))


def expire_holds_task(now: datetime) -> int:
    """The worker's job: only takes the writer lock (SQLite) when a hold actually ran out."""
    if not _any_hold_ran_out(now):
        return 0
    begin_write(db.session)
    return expire_holds(now)


def expire_holds_before_registration(event: Event, now: datetime) -> None:
    """`registration.before_registration`: this event's holds that ran out stop counting now.

    Only paid tickets are held, so an event with none on sale has nothing to expire here (a hold left
    from a type since made free is swept by the worker's `expire_holds_task` within a minute). The
    first query asks whether any hold at all has run out: only `ix_orders_status_hold` serves it,
    so it reads the holds that ran out (normally none: the worker sweeps them every minute), never
    the event's live orders, which the event's own query may scan (the planner is free to take
    `event_id`'s index for it). It takes no lock: a hold another registration is expiring right
    now still reads as pending, so we then queue behind it in `expire_holds` as before.
    """
    if any(tt.price_cents > 0 for tt in event.ticket_types) \
            and _any_hold_ran_out(now):
        expire_holds(now, event=event, wait=True)


def release_hold(token: object, *, now: datetime | None = None) -> Payment:
    """She gives up on paying (her payment page): seats back now, the Checkout Session expired.

    If she paid a moment ago in another tab the payment still arrives, and fulfilment claims the seats
    again or refunds. Releasing an order that is no longer waiting does nothing.
    """
    now = now or utcnow()
    payment = payment_by_token(token)
    if payment is None:
        raise UnknownPaymentError()
    order = lock_order(payment.order_id)
    payment = lock_payment(order.id)
    if order.status != OrderStatus.PENDING_PAYMENT or payment.is_paid:
        return payment
    if not registration_cancellation.void_order(order, status=OrderStatus.CANCELLED, now=now):
        return payment
    gw = providers.gateway()
    if payment.status == PaymentStatus.OPEN and payment.checkout_session_id and gw is not None \
            and gw.provider == payment.provider:
        try:
            gw.expire_checkout_session(payment.checkout_session_id)
        except GatewayError as e:  # already complete or expired: its webhook tells the rest
            log.info("could not expire checkout session %s: %s", payment.checkout_session_id, e.message)
    if payment.status in (PaymentStatus.OPEN, PaymentStatus.PROCESSING):
        payment.status = PaymentStatus.EXPIRED
    db.session.flush()
    return payment