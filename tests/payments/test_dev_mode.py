"""Development without Stripe keys: the dev payment page and its signed webhook; never reachable with
a real key or in production. And `stripe` is imported by stripe_gateway.py alone."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import csrf_from
from tests.payments.conftest import (
    deliver,
    mail_text,
    order_state,
    register,
    sign,
    stored_events,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dev_mode(app, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", None)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", None)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", None)
    return app


def _dev_secret(app) -> str:
    return (Path(app.instance_path) / "stripe_dev_webhook_secret").read_text().strip()


def test_the_whole_paid_path_works_by_hand_without_keys(app, client, dev_mode, paid_event, mailbox):
    response = register(client, paid_event, paid=2)
    assert response.status_code == 303
    url = response.headers["Location"]
    assert re.fullmatch(r"/payments/dev/checkout/cs_dev_[a-z0-9]+", url)

    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Test payment — no money moves" in html and "Pay €50.00 (test)" in html

    paid = client.post(url, data={"csrf_token": csrf_from(html), "action": "pay"})
    assert paid.status_code == 303 and paid.headers["Location"].startswith("/payments/success?session_id=cs_dev_")
    state = order_state(app)
    assert state["status"] == "confirmed" and state["payment"]["paid"]
    assert state["payment"]["payment_intent"].startswith("pi_dev_")
    assert stored_events(app) == 1  # it went through the webhook and its event store
    assert _dev_secret(app).startswith("whsec_dev_")

    ticket = client.get(paid.headers["Location"])
    assert ticket.status_code == 303 and ticket.headers["Location"] == f"/tickets/{state['token']}"
    deliver(app)
    assert "Paid:   €50.00" in mail_text(mailbox.to("ada@example.org")[0])

    # The dev page is closed once paid; refunds work by hand too (no money moves).
    again = client.get(url).get_data(as_text=True)
    assert "This test checkout is closed" in again


def test_the_dev_webhook_is_signed_for_real(app, client, dev_mode, paid_event):
    register(client, paid_event)
    sid = order_state(app)["payment"]["session_id"]
    event = {"id": "evt_x", "object": "event", "type": "checkout.session.completed",
             "data": {"object": {"id": sid, "payment_status": "paid", "amount_total": 2500, "currency": "eur",
                                 "metadata": {"order_id": str(order_state(app)["id"])}}}}
    payload = json.dumps(event)
    forged = client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": sign(payload, "whsec_guess")})
    assert forged.status_code == 400 and order_state(app)["status"] == "pending_payment"
    good = client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": sign(payload, _dev_secret(app))})
    assert good.status_code == 200 and order_state(app)["status"] == "confirmed"


def test_the_dev_page_is_unreachable_with_a_real_key(app, client, dev_mode, paid_event, monkeypatch,
                                                      fake_stripe_server):
    url = register(client, paid_event).headers["Location"]
    html = client.get(url).get_data(as_text=True)
    sid = order_state(app)["payment"]["session_id"]
    secret = _dev_secret(app)

    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", "sk_test_real")
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", "whsec_real")
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", fake_stripe_server.url)
    assert client.get(url).status_code == 404
    assert client.post(url, data={"csrf_token": csrf_from(html), "action": "pay"}).status_code == 404
    # and the dev secret no longer signs anything the webhook believes
    event = {"id": "evt_y", "object": "event", "type": "checkout.session.completed",
             "data": {"object": {"id": sid, "payment_status": "paid", "amount_total": 2500, "currency": "eur",
                                 "metadata": {"order_id": str(order_state(app)["id"])}}}}
    payload = json.dumps(event)
    assert client.post("/stripe/webhook", data=payload,
                       headers={"Stripe-Signature": sign(payload, secret)}).status_code == 400
    assert order_state(app)["status"] == "pending_payment"


def test_the_dev_page_does_not_exist_in_production(monkeypatch, tmp_path):
    from eventsite import create_app
    from eventsite.config import TestConfig
    from eventsite.extensions import db

    monkeypatch.setenv("EVENTSITE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "prod.db"))
    monkeypatch.setenv("EVENTSITE_BASE_URL", "https://events.example.org")
    monkeypatch.setenv("EVENTSITE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    production = create_app(TestConfig)
    assert not any(rule.endpoint.startswith("payments_dev.") for rule in production.url_map.iter_rules())
    with production.app_context():
        db.create_all()
    c = production.test_client()
    assert c.get("/payments/dev/checkout/cs_dev_abc").status_code == 404
    assert c.post("/payments/dev/checkout/cs_dev_abc").status_code in (400, 404)  # CSRF or no route: never a page
    # No key in production: webhooks are not believed (503 so Stripe retries once it is configured).
    body = json.dumps({"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {}}})
    assert c.post("/stripe/webhook", data=body, headers={"Stripe-Signature": sign(body, "whsec_any")}).status_code == 503
    assert not (tmp_path / "stripe_dev_webhook_secret").exists()

    # A paid registration cannot be paid: its seats are released at once, with a clear message.
    from flask import get_flashed_messages

    from eventsite.payments.views import start_payment
    from eventsite.registration.services import register_attendees
    from tests.factories import make_event, make_organizer, make_ticket_type

    with production.test_request_context("/events/x/register", method="POST"):
        owner = make_organizer("prod@example.org")
        event = make_event(owner.memberships[0].organization_id)
        tt = make_ticket_type(event, price_cents=1000, capacity=3)
        order = register_attendees(event, buyer_name="Ada", buyer_email="ada@example.org", quantities={tt.id: 2},
                                   attendees=[{"name": "Bea"}])
        db.session.commit()
        assert start_payment(order) == f"/events/{event.slug}"
        assert get_flashed_messages() == ["Online payment is not available at the moment. Please contact the organizer."]
        db.session.expire_all()
        assert order.status.value == "cancelled" and tt.sold == 0
        db.session.remove()
    with production.app_context():
        db.session.remove()
        db.engine.dispose()


def test_stripe_is_imported_only_by_the_gateway():
    importers = []
    for path in (ROOT / "eventsite").rglob("*.py"):
        text = path.read_text()
        if re.search(r"^\s*(import stripe\b|from stripe\b)", text, re.MULTILINE):
            importers.append(path.relative_to(ROOT).as_posix())
    assert importers == ["eventsite/payments/stripe_gateway.py"]
