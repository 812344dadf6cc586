"""Payment fixtures: the fake Stripe API (a real HTTP server on loopback that the real `stripe`
library reaches through STRIPE_API_BASE), an app configured with a test key and webhook secret,
events with paid tickets, and helpers that act like the visitor and like Stripe."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from eventsite.core.db import utcnow
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.mail.worker import deliver_due
from eventsite.core.tasks import run_due_tasks
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.payments.models import Payment, Refund, StripeEvent
from eventsite.registration.models import Order
from tests.conftest import post_form
from tests.factories import make_event, make_ticket_type
from tests.payments.fake_stripe import FakeStripe, sign

WEBHOOK_SECRET = "whsec_test_eventsite_0123456789abcdef"
SECRET_KEY = "sk_test_eventsite_fake"


@pytest.fixture(scope="session")
def fake_stripe_server():
    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture
def stripe_api(app, fake_stripe_server, monkeypatch) -> FakeStripe:
    """The app talks to the fake Stripe with a test key; webhooks are signed with WEBHOOK_SECRET."""
    fake_stripe_server.reset()
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", fake_stripe_server.url)
    return fake_stripe_server


@dataclass
class PaidEvent:
    id: int
    slug: str
    paid_type_id: int  # "Conference pass", 25.00 EUR
    free_type_id: int  # "Livestream", free


@pytest.fixture
def paid_event(app, organizer) -> PaidEvent:
    """A published event two weeks ahead, EUR, refunds until 7 days before, with a paid ticket type
    (capacity 5) and a free one."""
    with app.app_context():
        event = make_event(organizer["organization_id"], currency="EUR", refund_until_days_before=7,
                           title="Leadership Breakfast")
        paid = make_ticket_type(event, name="Conference pass", price_cents=2500, currency="EUR", capacity=5)
        free = make_ticket_type(event, name="Livestream", price_cents=0, currency="EUR", capacity=50, position=1)
        info = PaidEvent(event.id, event.slug, paid.id, free.id)
        db.session.remove()
    return info


# --- acting as the visitor ---------------------------------------------------------------------

def register(client, event: PaidEvent, *, email: str = "ada@example.org", name: str = "Ada Lovelace",
             paid: int = 1, free: int = 0, extra: dict | None = None):
    """Fill in and post the public registration form (names for every extra ticket)."""
    data = {"name": name, "email": email, f"quantity-{event.paid_type_id}": str(paid),
            f"quantity-{event.free_type_id}": str(free)}
    for i in range(1, paid + free):
        data[f"attendee-{i}-name"] = f"Guest {i}"
        data[f"attendee-{i}-email"] = ""
    data.update(extra or {})
    return post_form(client, f"/events/{event.slug}/register", data, form_url=f"/events/{event.slug}")


# --- acting as Stripe --------------------------------------------------------------------------

def send_event(client, stripe: FakeStripe, type_: str, obj: dict, *, secret: str = WEBHOOK_SECRET,
               timestamp: int | None = None, event_id: str | None = None, signature: str | None = "sign"):
    """POST a webhook event the way Stripe does: raw JSON body, Stripe-Signature header."""
    event = stripe.event(type_, obj, event_id=event_id)
    payload = json.dumps(event)
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["Stripe-Signature"] = sign(payload, secret, timestamp)
    elif signature is not None:
        headers["Stripe-Signature"] = signature
    response = client.post("/stripe/webhook", data=payload, headers=headers)
    response.event = event
    return response


def session_id_from(url: str) -> str:
    m = re.search(r"/(cs_[A-Za-z0-9_]+)$", url)
    assert m, f"not a checkout URL: {url}"
    return m.group(1)


# --- reading the database ----------------------------------------------------------------------

def in_app(app, fn, *args, **kwargs):
    with app.app_context():
        try:
            return fn(*args, **kwargs)
        finally:
            db.session.remove()


def order_state(app, email: str = "ada@example.org") -> dict:
    """The (latest) order of `email` and its payment, as plain data."""
    def run():
        order = db.session.scalars(select(Order).where(Order.buyer_email == email).order_by(Order.id.desc())).first()
        assert order is not None, f"no order for {email}"
        payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
        refunds = list(db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id)))
        return {
            "id": order.id, "code": order.code, "token": order.token, "status": order.status.value,
            "total_cents": order.total_cents, "hold_expires_at": order.hold_expires_at,
            "tickets": [t.status.value for t in order.tickets],
            "payment": None if payment is None else {
                "status": payment.status.value, "session_id": payment.checkout_session_id,
                "token": payment.token, "paid": payment.paid_at is not None,
                "payment_intent": payment.payment_intent_id, "refunded": payment.amount_refunded_cents,
                "checkout_expires_at": payment.checkout_expires_at,
            },
            "refunds": [{"status": r.status.value, "amount": r.amount_cents, "reason": r.reason.value,
                         "message": r.failure_message, "key": r.idempotency_key, "attempts": r.attempts}
                        for r in refunds],
        }
    return in_app(app, run)


def sold(app, ticket_type_id: int) -> tuple[int, int]:
    def run():
        tt = db.session.get(TicketType, ticket_type_id)
        return tt.sold, db.session.get(Event, tt.event_id).sold
    return in_app(app, run)


def outbox_keys(app) -> list[str]:
    return in_app(app, lambda: sorted(db.session.scalars(select(OutboxMessage.key))))


def stored_events(app) -> int:
    return in_app(app, lambda: db.session.scalar(select(func.count()).select_from(StripeEvent)))


def deliver(app) -> None:
    in_app(app, deliver_due)


def run_worker_tasks(app, now: datetime | None = None) -> None:
    in_app(app, run_due_tasks, now or utcnow())


def move_hold(app, email: str, *, minutes_ago: int = 1) -> None:
    """Make her hold run out (as if time passed): hold_expires_at in the past."""
    def run():
        order = db.session.scalars(select(Order).where(Order.buyer_email == email).order_by(Order.id.desc())).first()
        order.hold_expires_at = utcnow() - timedelta(minutes=minutes_ago)
        db.session.commit()
    in_app(app, run)


def mail_text(mail) -> str:
    return mail.message.get_body(preferencelist=("plain",)).get_content()


def now_ts() -> int:
    return int(time.time())
