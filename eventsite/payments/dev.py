"""The dev payment page's webhook: what Stripe would send when she pays, signed the real way.

In dev mode (no STRIPE_SECRET_KEY, not production; see providers.py) the Checkout URL is our own
page, `/payments/dev/checkout/<session id>`, labelled "Test payment — no money moves". Paying there
builds the `checkout.session.completed` event Stripe would send, signs it with the webhook secret
(the dev secret under instance/) exactly as Stripe signs (`t=...,v1=HMAC-SHA256`), and POSTs it to
`/stripe/webhook` through the app itself. So the signature check, the event store, fulfilment and
the confirmation email all run as they would with Stripe, by hand, in `make run`.
"""
from __future__ import annotations

import json
import time

from flask import current_app

from eventsite.core.security import random_token
from eventsite.payments import providers
from eventsite.payments.errors import UnknownPaymentError
from eventsite.payments.models import Payment
from eventsite.payments.services import payment_by_session_id
from eventsite.payments.stripe_gateway import signature_header


def dev_payment(session_id: object) -> Payment:
    """The payment behind a dev Checkout Session; UnknownPaymentError (404) outside dev mode."""
    if not providers.dev_mode():
        raise UnknownPaymentError()
    payment = payment_by_session_id(session_id)
    if payment is None or payment.provider != "dev":
        raise UnknownPaymentError()
    return payment


def signed_completion(payment: Payment) -> tuple[str, str]:
    """(payload, Stripe-Signature header) of the `checkout.session.completed` event for `payment`."""
    now = int(time.time())
    order = payment.order
    session = {
        "id": payment.checkout_session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": payment.amount_cents,
        "currency": payment.currency.lower(),
        "customer_email": order.buyer_email,
        "client_reference_id": f"order-{order.id}",
        "metadata": {"order_id": str(order.id), "order_code": order.code},
        "payment_intent": "pi_dev_" + random_token(100).lower(),
        "livemode": False,
    }
    event = {
        "id": "evt_dev_" + random_token(100).lower(),
        "object": "event",
        "type": "checkout.session.completed",
        "created": now,
        "livemode": False,
        "data": {"object": session},
    }
    payload = json.dumps(event, separators=(",", ":"))
    return payload, signature_header(payload, providers.webhook_secret(), now)


def deliver_to_webhook(payload: str, header: str) -> int:
    """POST the signed event to our own /stripe/webhook (a full request through the app, in its own
    app context and database session, like Stripe's delivery). Returns the HTTP status."""
    from werkzeug.test import Client

    client = Client(current_app._get_current_object())
    response = client.post("/stripe/webhook", data=payload.encode("utf-8"),
                           headers={"Stripe-Signature": header, "Content-Type": "application/json"})
    status = response.status_code
    response.close()
    return status
