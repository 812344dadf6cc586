"""Paid orders: checkout, fulfilment and seat holds. Refunds are in `refunds.py`, webhook events in
`webhooks.py`; this module re-exports their entry points, so callers import `payments.services`.

The life of a paid order
------------------------
`registration.register_attendees` writes it `pending_payment`, its seats claimed like a free order's
and held until `hold_expires_at` (the event's `hold_minutes`, else SEAT_HOLD_MINUTES). Then:

1. `start_checkout(order)` asks Stripe (through `stripe_gateway`, or the dev page's stand-in) for a
   Checkout Session: line items per ticket type at the prices stored on the tickets, her email, the
   order id in the metadata, `expires_at` = the end of the hold, success and cancel URLs, and an
   idempotency key derived from the order. Stripe keeps a session open at least 30 minutes, so a
   shorter hold is extended to the session's end: hold and session always end together (with Stripe
   the registration already holds the seats that long, `_paid_hold_end`, so a checkout started at
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

import hashlib
import hmac
import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, exists, func, inspect, select, update
from sqlalchemy.exc import IntegrityError

from eventsite.core.db import begin_write, utcnow
from eventsite.core.security import TOKEN_ALPHABET
from eventsite.core.tasks import register_task
from eventsite.events import services as event_services
from eventsite.events.display import absolute_url, event_path
from eventsite.events.models import Event, EventStatus, TicketType
from eventsite.extensions import db
from eventsite.payments import providers
from eventsite.payments.errors import (
    NotPayableError,
    PaymentsUnavailableError,
    UnknownPaymentError,
)
from eventsite.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from eventsite.payments.stripe_gateway import GatewayError
from eventsite.registration import emails as registration_emails
from eventsite.registration import services as registration_services
from eventsite.registration.capacity import claim_all
from eventsite.registration.errors import SoldOutError
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus

log = logging.getLogger(__name__)

_orders = Order.__table__
_tickets = Ticket.__table__
_payments = Payment.__table__

STRIPE_MIN_SESSION = timedelta(minutes=30)
STRIPE_MAX_SESSION = timedelta(hours=24)
# Stripe measures the session's bounds from when it receives the request, on its own clock.
SESSION_MARGIN = timedelta(minutes=2)
# From the registration to its `start_checkout`: milliseconds normally (see `_paid_hold_end`).
CHECKOUT_LEEWAY = timedelta(seconds=15)
SESSION_ID_RE = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")
TOKEN_RE = re.compile(r"^[A-Z0-9]{16,64}$")
HOLD_SWEEP_BATCH = 200
CHECKOUT_FAILED = "We could not start the payment just now. Your seats stay held; please try again in a moment."


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
    """The order, row-locked (SELECT ... FOR UPDATE on PostgreSQL) and freshly read with its tickets:
    everything that changes a paid order's state takes this lock first, so they run one at a time."""
    order = db.session.scalar(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    )
    if order is None:
        raise UnknownPaymentError("This order no longer exists.")
    db.session.scalars(
        select(Ticket).where(Ticket.order_id == order_id).execution_options(populate_existing=True)
    ).all()
    return order


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


# --- checkout ----------------------------------------------------------------------------------

@cache
def _checkout_lock_query():
    return (select(Order, Event.title, Event.slug).join(Event, Event.id == Order.event_id)
            .where(Order.id == bindparam("order_id")).with_for_update(of=Order)
            .execution_options(populate_existing=True))


def _lock_for_checkout(order_id: int) -> tuple[Order, str, str]:
    """`lock_order` for `start_checkout`: the order row-locked and freshly read, with its event's title
    and slug (Stripe's labels) in the same round trip; `_line_items` reads the tickets."""
    row = db.session.execute(_checkout_lock_query(), {"order_id": order_id}).one_or_none()
    if row is None:
        raise UnknownPaymentError("This order no longer exists.")
    return row[0], row[1], row[2]


@cache
def _line_items_query():
    return (select(Ticket.ticket_type_id, Ticket.price_cents, TicketType.name)
            .join(TicketType, TicketType.id == Ticket.ticket_type_id)
            .where(Ticket.order_id == bindparam("order_id"), Ticket.status == TicketStatus.VALID))


def _line_items(order: Order, event_title: str) -> list[dict]:
    """One line per ticket type and price, at the prices stored on her tickets when she registered."""
    tickets = db.session.execute(_line_items_query(), {"order_id": order.id}).all()
    counts = Counter((t.ticket_type_id, t.price_cents) for t in tickets)
    names = {t.ticket_type_id: t.name for t in tickets}
    items = []
    for (type_id, price), n in sorted(counts.items()):
        if price <= 0:
            continue  # a free ticket in a paid order costs nothing at Stripe either
        items.append({
            "quantity": n,
            "price_data": {
                "currency": order.currency.lower(),
                "unit_amount": price,
                "product_data": {"name": f"{names[type_id]} · {event_title}"[:250]},
            },
        })
    total = sum(i["quantity"] * i["price_data"]["unit_amount"] for i in items)
    if total != order.total_cents:
        raise RuntimeError(f"order {order.id}: tickets add up to {total}, the order says {order.total_cents}")
    return items


def _session_params(order: Order, payment_token: str, expires_at: datetime, event_title: str, event_slug: str) -> dict:
    metadata = {"order_id": str(order.id), "order_code": order.code, "event": event_slug[:100]}
    return {
        "mode": "payment",
        "line_items": _line_items(order, event_title),
        "customer_email": order.buyer_email,
        "client_reference_id": f"order-{order.id}",
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata, "description": f"{event_title} · order {order.code}"[:300]},
        "expires_at": int(expires_at.timestamp()),
        "success_url": absolute_url("/payments/success") + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": absolute_url(f"/payments/order/{payment_token}"),
    }


def _session_end(order: Order, provider: str, now: datetime) -> datetime:
    """When the session (and so the hold) ends: the hold's end, within what Stripe accepts."""
    end = order.hold_expires_at
    if provider == "stripe":
        end = min(max(end, now + STRIPE_MIN_SESSION + SESSION_MARGIN), now + STRIPE_MAX_SESSION - SESSION_MARGIN)
    return end.replace(microsecond=0)


def _paid_hold_end(event: Event, now: datetime, end: datetime) -> datetime:
    """`registration_services.paid_hold_end`: with Stripe, a new paid order is held from the start
    until where `_session_end` will put the hold when her checkout starts (up to CHECKOUT_LEEWAY
    later), so `start_checkout` finds nothing to move: one UPDATE of the order less per checkout.
    A checkout started later (or a 24-hour hold) still has its hold moved there, as before."""
    if providers.mode() != "stripe":
        return end
    end = min(max(end, now + CHECKOUT_LEEWAY + STRIPE_MIN_SESSION + SESSION_MARGIN),
              now + STRIPE_MAX_SESSION - SESSION_MARGIN)
    return end.replace(microsecond=0)


def _payment_token(order: Order) -> str:
    """The token of her payment page (Stripe's cancel URL), the same each time the transaction that
    creates the payment runs: a retried one must send Stripe the same parameters with the same
    idempotency key, else Stripe refuses the replay. 130 bits of an HMAC of the order's own secret
    token under SECRET_KEY, in the token alphabet: as unguessable as `random_token(130)`."""
    key = current_app.config["SECRET_KEY"]
    digest = hmac.new(key if isinstance(key, bytes) else key.encode(), f"payment:{order.token}".encode(),
                      hashlib.sha256).digest()
    n = int.from_bytes(digest, "big")
    chars = []
    for _ in range(26):  # 26 letters of 32: 130 bits
        n, i = divmod(n, len(TOKEN_ALPHABET))
        chars.append(TOKEN_ALPHABET[i])
    return "".join(chars)


def _order_id(order: Order) -> int:
    """Its id without a query: the registration's commit expired the whole order, and `start_checkout`
    reads it again under the lock anyway."""
    identity = inspect(order).identity
    return identity[0] if identity else order.id


def start_checkout(order: Order, *, now: datetime | None = None) -> str | None:
    """The Checkout URL to send her to (303) for a `pending_payment` order; see the module doc.

    None when Stripe refused or could not be reached: the reason is in `Payment.checkout_error`, her
    seats stay held, and the attempt is counted (and must be committed) so that the next try sends a
    new idempotency key (Stripe replays a failed request's answer for its key). Raises
    `NotPayableError` (free, already paid, hold ran out) and `PaymentsUnavailableError` (no payment
    provider configured). Call it after the order is committed; the caller commits again.

    Its statements: the order locked (with the event's labels), its payment locked, the hold moved
    to the session's end when they differ, the tickets read for the line items, and the payment
    written once, with Stripe's answer (a first attempt is one INSERT, `_write_payment`).
    """
    now = now or utcnow()
    order, event_title, event_slug = _lock_for_checkout(_order_id(order))
    if order.total_cents <= 0:
        raise NotPayableError("This registration is free: there is nothing to pay.")
    gw = providers.gateway()
    if gw is None:
        raise PaymentsUnavailableError("Online payment is not available at the moment. Please contact the organizer.")
    if order.status == OrderStatus.CONFIRMED:
        raise NotPayableError("This registration is already paid and confirmed.")
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise NotPayableError("This registration can no longer be paid: its seats were released. "
                              "Please register again.")
    if order.hold_expires_at is None or order.hold_expires_at <= now:
        raise NotPayableError("The time to pay for this registration has run out and its seats were released. "
                              "Please register again.")
    payment = lock_payment(order.id)  # None: the first attempt, whose row is written with Stripe's answer
    if payment is not None and payment.status == PaymentStatus.PROCESSING:
        # Her bank payment is on its way through this session: a second session could be paid too.
        raise NotPayableError("Your payment is being processed. We will email your tickets as soon as it is "
                              "confirmed.")
    if payment is not None and payment.checkout_session_id and payment.provider == gw.provider \
            and payment.status == PaymentStatus.OPEN and payment.checkout_url:
        return payment.checkout_url  # one session per order: the same page again
    attempt = (payment.checkout_attempts if payment is not None else 0) + 1
    token = payment.token if payment is not None else _payment_token(order)

    end = _session_end(order, gw.provider, now)
    if end != order.hold_expires_at:  # the hold follows the session (Stripe's 30-minute minimum)
        db.session.execute(update(_orders).where(_orders.c.id == order.id).values(hold_expires_at=end))
        db.session.expire(order, ["hold_expires_at"])
    key = f"eventsite-checkout-{order.code}-{order.id}-{attempt}"
    session = _create_session(gw, order, _session_params(order, token, end, event_title, event_slug), key)
    answer = {"provider": gw.provider, "checkout_attempts": attempt}
    if session is None:
        answer["checkout_error"] = CHECKOUT_FAILED
    else:
        answer.update(checkout_session_id=session["id"], checkout_url=session["url"], checkout_expires_at=end,
                      checkout_error=None, status=PaymentStatus.OPEN)
    _write_payment(order, payment, token, answer, now)
    return session["url"] if session is not None else None


def _create_session(gw, order: Order, params: dict, key: str) -> dict | None:
    """Stripe's Checkout Session (id and url at least), or None when it refused or could not be
    reached, or answered something unusable."""
    try:
        session = gw.create_checkout_session(params, idempotency_key=key)
    except GatewayError as e:
        log.warning("checkout for order %s could not start: %s (%s)", order.id, e.message, e.code)
        return None
    if not isinstance(session.get("id"), str) or not isinstance(session.get("url"), str):
        log.error("checkout for order %s: unusable answer %r", order.id, session)
        return None
    return session


def _write_payment(order: Order, payment: Payment | None, token: str, answer: dict, now: datetime) -> None:
    """The checkout's one write of the payment row: `answer`'s columns on the loaded payment of a
    later attempt, or, on the first, a plain INSERT of the new row. That row is not needed as an ORM
    object in this transaction, and the session's unit of work (dependency graph, identity map)
    cost about a millisecond of CPU per checkout for it; the column defaults apply the same way."""
    if payment is not None:
        for name, value in answer.items():
            setattr(payment, name, value)
        db.session.flush()
        return
    db.session.execute(_payments.insert(), {
        "order_id": order.id, "token": token, "amount_cents": order.total_cents, "currency": order.currency,
        "status": PaymentStatus.OPEN, "created_at": now, **answer,
    })


def give_up_unpayable(order: Order, *, now: datetime | None = None) -> Order:
    """No payment provider at all (production without a key): release the seats of a pending order at
    once rather than hold them for nothing."""
    now = now or utcnow()
    order = lock_order(order.id)
    if order.status == OrderStatus.PENDING_PAYMENT:
        registration_services.void_order(order, status=OrderStatus.CANCELLED, now=now)
    return order


def checkout_url_for_token(token: object, *, now: datetime | None = None) -> str | None:
    """"Pay now" on her payment page: `start_checkout` for the order behind a payment token."""
    payment = payment_by_token(token)
    if payment is None:
        raise UnknownPaymentError()
    return start_checkout(payment.order, now=now)


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


# --- holds -------------------------------------------------------------------------------------

def _expired_holds(now: datetime, event_id: int | None):
    q = select(Order.id).where(Order.status == OrderStatus.PENDING_PAYMENT, Order.hold_expires_at <= now)
    if event_id is not None:
        q = q.where(Order.event_id == event_id)
    return q


def expire_order(order: Order, *, now: datetime, payment_status: PaymentStatus = PaymentStatus.EXPIRED) -> bool:
    """A pending order that will not be paid: `expired`, tickets cancelled, seats back (waitlist
    hooks run). True when it moved. The caller holds the order lock."""
    if not registration_services.void_order(order, status=OrderStatus.EXPIRED, now=now):
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


def _expire_holds_before_registration(event: Event, now: datetime) -> None:
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
    if not registration_services.void_order(order, status=OrderStatus.CANCELLED, now=now):
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


def payment_page(token: object) -> Payment:
    payment = payment_by_token(token)
    if payment is None:
        raise UnknownPaymentError()
    return payment


def event_page_path(payment: Payment) -> str:
    return event_path(payment.order.event)


# --- wiring: hooks into lower domains and the worker's periodic jobs ---------------------------

def _wire() -> None:
    from eventsite.payments import refunds

    registration_services.paid_hold_end = _paid_hold_end
    if _expire_holds_before_registration not in registration_services.before_registration:
        registration_services.before_registration.append(_expire_holds_before_registration)
    if refunds.refund_cancelled_event not in event_services.on_event_cancelled:
        event_services.on_event_cancelled.append(refunds.refund_cancelled_event)
    register_task("payments.expire_holds", expire_holds_task)
    register_task("payments.send_due_refunds", refunds.send_due_refunds_task)


_wire()

# Re-exported entry points (callers import payments.services).
from eventsite.payments.refunds import (
    cancel_paid_order,
    refund_order,
    retry_refund,
    send_due_refunds,
)
from eventsite.payments.webhooks import process_webhook

__all__ = [
    "Fulfilment", "cancel_paid_order", "checkout_url_for_token", "confirm_return", "expire_holds",
    "fulfill_checkout", "payment_for", "payment_page", "process_webhook", "refund_order", "release_hold",
    "retry_refund", "send_due_refunds", "start_checkout",
]
