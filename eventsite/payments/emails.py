"""Payment emails, queued in the outbox in the caller's transaction (each with a unique key):

- `refund:<refund id>`: money is on its way back (the organizer refunded, she cancelled within the
  policy, the event was cancelled, or it was refunded in Stripe's dashboard);
- `payment-late:<order id>`: she paid after her hold ran out and the seats were gone: an apology and
  the automatic refund;
- `payment-failed:<order id>`: a delayed payment method failed; her seats were released.

The paid confirmation itself is registration's (`confirmation:<order id>`, with the amount paid).
Templates are in `payments/templates/payments/email/` and use registration's email layout; they are
rendered like registration's (an overlay of the app's Jinja environment), so no blueprint is needed.
"""
from __future__ import annotations

import os

from flask import current_app
from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from eventsite.core.mail import enqueue_email, format_address
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.text import format_money
from eventsite.events.display import absolute_url, event_url, format_range
from eventsite.registration import emails as registration_emails

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


def _env() -> Environment:
    app = current_app._get_current_object()
    env = app.extensions.get("payments_email_env")
    if env is None:
        env = app.jinja_env.overlay(loader=ChoiceLoader([
            FileSystemLoader(TEMPLATES), FileSystemLoader(registration_emails.TEMPLATES), app.jinja_env.loader,
        ]))
        app.extensions["payments_email_env"] = env
    return env


def _queue(name: str, *, key: str, order, subject: str, **context) -> OutboxMessage:
    event = order.event
    context = {
        "event": event,
        "order": order,
        "when": format_range(event),
        "timezone": event.timezone,
        "venue_lines": [line.strip() for line in [event.venue_name or "", *(event.venue_address or "").splitlines()]
                        if line.strip()],
        "online_url": None,
        "map_url": None,
        "event_url": event_url(event),
        "ticket_url": absolute_url(f"/tickets/{order.token}"),
        **context,
    }
    env = _env()
    text = env.get_template(f"payments/email/{name}.txt").render(**context)
    html = env.get_template(f"payments/email/{name}.html").render(**context)
    return enqueue_email(key=key, to=format_address(order.buyer_name, order.buyer_email), subject=subject,
                         text=text, html=html)


def queue_refund_issued(order, refund) -> OutboxMessage:
    amount = format_money(refund.amount_cents, refund.currency)
    return _queue("refund", key=f"refund:{refund.id}", order=order, refund=refund, amount=amount,
                  reason=refund.reason.value, subject=f"Refund of {amount}: {order.event.title}")


def queue_late_payment_apology(order, amount_cents: int, currency: str) -> OutboxMessage:
    amount = format_money(amount_cents, currency)
    return _queue("late_payment", key=f"payment-late:{order.id}", order=order, amount=amount,
                  subject=f"Sorry: your payment came too late for {order.event.title}")


def queue_payment_failed(order) -> OutboxMessage:
    return _queue("payment_failed", key=f"payment-failed:{order.id}", order=order,
                  subject=f"Your payment did not go through: {order.event.title}")
