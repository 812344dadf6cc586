"""Starting the checkout of a paid order: step 1 of the life of a paid order (see `services`).

`start_checkout` asks Stripe (or the dev page's stand-in) for a Checkout Session whose end is the
end of the seat hold, and writes the order's payment with Stripe's answer; `checkout_url_for_token`
is "Pay now" on her payment page, `give_up_unpayable` releases the seats when no payment provider
is configured. `paid_hold_end` is installed as `registration.paid_hold_end` (see the package), so
a new paid order is held until where its session will end.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from collections import Counter
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, inspect, select, update

from eventsite.core.db import utcnow
from eventsite.core.security import TOKEN_ALPHABET
from eventsite.events.display import absolute_url
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.payments import providers
from eventsite.payments.errors import (
    NotPayableError,
    PaymentsUnavailableError,
    UnknownPaymentError,
)
from eventsite.payments.models import Payment, PaymentStatus
from eventsite.payments.services import lock_order, lock_payment, payment_by_token
from eventsite.payments.stripe_gateway import GatewayError
from eventsite.registration import cancellation as registration_cancellation
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus

log = logging.getLogger(__name__)

_orders = Order.__table__
_payments = Payment.__table__

STRIPE_MIN_SESSION = timedelta(minutes=30)
STRIPE_MAX_SESSION = timedelta(hours=24)
# Stripe measures the session's bounds from when it receives the request, on its own clock.
SESSION_MARGIN = timedelta(minutes=2)
# From the registration to its `start_checkout`: milliseconds normally (see `paid_hold_end`).
CHECKOUT_LEEWAY = timedelta(seconds=15)
CHECKOUT_FAILED = "We could not start the payment just now. Your seats stay held; please try again in a moment."

# Like `services`' statements, the checkout's are built once per process (`@cache`) and run with
# their values as parameters (see `services._payment_lock_query`).

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


def paid_hold_end(event: Event, now: datetime, end: datetime) -> datetime:
    """`registration.services.paid_hold_end`: with Stripe, a new paid order is held from the start
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
    """The Checkout URL to send her to (303) for a `pending_payment` order; see the module doc of `services`.

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
        registration_cancellation.void_order(order, status=OrderStatus.CANCELLED, now=now)
    return order


def checkout_url_for_token(token: object, *, now: datetime | None = None) -> str | None:
    """"Pay now" on her payment page: `start_checkout` for the order behind a payment token."""
    payment = payment_by_token(token)
    if payment is None:
        raise UnknownPaymentError()
    return start_checkout(payment.order, now=now)
