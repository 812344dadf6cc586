"""/stripe/webhook: signatures, the event store, arrival order, delayed payments, events not ours."""
from __future__ import annotations

import json
import logging
import time

from tests.conftest import csrf_from
from tests.payments.conftest import (
    WEBHOOK_SECRET,
    deliver,
    mail_text,
    order_state,
    outbox_keys,
    register,
    send_event,
    session_id_from,
    sold,
    stored_events,
)
from tests.payments.fake_stripe import sign


def _paid_session(client, stripe_api, paid_event, **kw) -> dict:
    sid = session_id_from(register(client, paid_event, **kw).headers["Location"])
    return stripe_api.pay(sid)


def test_missing_forged_and_stale_signatures_are_refused_and_change_nothing(app, client, stripe_api, paid_event):
    session = _paid_session(client, stripe_api, paid_event)
    cases = {
        "missing": {"signature": None},
        "garbage": {"signature": "nonsense"},
        "forged": {"secret": "whsec_someone_else"},
        "stale": {"timestamp": int(time.time()) - 3600},
        "empty v1": {"signature": f"t={int(time.time())},v1="},
    }
    for name, kw in cases.items():
        response = send_event(client, stripe_api, "checkout.session.completed", session, **kw)
        assert response.status_code == 400, name
        assert response.get_json()["error"]["code"] == "bad_signature", name
    # a body that is signed but is not an event
    body = "not json"
    response = client.post("/stripe/webhook", data=body, headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET)})
    assert response.status_code == 400
    # a signature for another body (the body was tampered with after signing)
    event = stripe_api.event("checkout.session.completed", session)
    header = sign(json.dumps(event), WEBHOOK_SECRET)
    event["data"]["object"]["amount_total"] = 1
    response = client.post("/stripe/webhook", data=json.dumps(event), headers={"Stripe-Signature": header})
    assert response.status_code == 400

    assert stored_events(app) == 0
    assert order_state(app)["status"] == "pending_payment" and not order_state(app)["payment"]["paid"]
    assert outbox_keys(app) == []


def test_the_webhook_needs_no_csrf_token_but_a_secret(app, client, stripe_api, paid_event, monkeypatch):
    session = _paid_session(client, stripe_api, paid_event)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", None)  # a key but no webhook secret
    response = send_event(client, stripe_api, "checkout.session.completed", session)
    assert response.status_code == 503  # Stripe retries; nothing is believed meanwhile
    assert stored_events(app) == 0 and order_state(app)["status"] == "pending_payment"


def test_events_it_does_not_need_are_stored_and_answered_200(app, client, stripe_api):
    response = send_event(client, stripe_api, "customer.created", {"id": "cus_123", "object": "customer"})
    assert response.status_code == 200 and response.get_json()["outcome"] == "not handled"
    assert stored_events(app) == 1


def test_webhooks_for_unknown_orders_are_ignored_with_a_log_line(app, client, stripe_api, paid_event, caplog):
    register(client, paid_event)
    foreign = stripe_api.add_foreign_session(amount=2500, currency="eur",
                                             metadata={"order_id": str(order_state(app)["id"])})
    charge = stripe_api.charge_for("pi_unknown", amount=2500, amount_refunded=2500)
    with caplog.at_level(logging.WARNING, logger="eventsite.payments"):
        for type_, obj in (("checkout.session.completed", foreign), ("checkout.session.expired", foreign),
                           ("checkout.session.async_payment_failed", foreign), ("charge.refunded", charge)):
            response = send_event(client, stripe_api, type_, obj)
            assert response.status_code == 200 and response.get_json()["outcome"].startswith("ignored"), type_
    assert foreign["id"] in caplog.text and "not one of ours" in caplog.text and "pi_unknown" in caplog.text
    assert order_state(app)["status"] == "pending_payment"


def test_a_session_that_does_not_match_its_order_never_confirms(app, client, stripe_api, paid_event, caplog):
    session = _paid_session(client, stripe_api, paid_event)
    tampered = {**session, "amount_total": 100}  # (Stripe would never send this; belt and braces)
    with caplog.at_level(logging.ERROR, logger="eventsite.payments"):
        response = send_event(client, stripe_api, "checkout.session.completed", tampered)
    assert response.status_code == 200 and "ignored" in response.get_json()["outcome"]
    assert "does not match" in caplog.text
    assert order_state(app)["status"] == "pending_payment"


def test_completed_only_confirms_when_paid_then_the_delayed_payment_settles(app, client, stripe_api, paid_event,
                                                                          mailbox):
    sid = session_id_from(register(client, paid_event).headers["Location"])
    session = stripe_api.pay(sid, payment_status="unpaid")  # e.g. a bank debit: money not there yet
    response = send_event(client, stripe_api, "checkout.session.completed", session)
    assert response.get_json()["outcome"].startswith("not_paid")
    assert order_state(app)["status"] == "pending_payment"
    assert order_state(app)["payment"]["status"] == "processing"
    # Meanwhile her payment page says so, and no second session can be opened (it could be paid too).
    token = order_state(app)["payment"]["token"]
    page = client.get(f"/payments/order/{token}").get_data(as_text=True)
    assert "Your payment is being processed" in page and "Pay €25.00 now" not in page
    csrf = csrf_from(client.get(f"/events/{paid_event.slug}").data)  # a stale tab's button
    refused = client.post(f"/payments/order/{token}/pay", data={"csrf_token": csrf})
    assert refused.status_code == 303 and len(stripe_api.session_creations()) == 1

    settled = stripe_api.settle_async(sid, succeeded=True)
    response = send_event(client, stripe_api, "checkout.session.async_payment_succeeded", settled)
    assert response.get_json()["outcome"] == "confirmed"
    deliver(app)
    assert "Paid:   €25.00" in mail_text(mailbox.to("ada@example.org")[0])


def test_a_failed_delayed_payment_releases_the_seats_and_tells_her(app, client, stripe_api, paid_event, mailbox):
    sid = session_id_from(register(client, paid_event, paid=2).headers["Location"])
    send_event(client, stripe_api, "checkout.session.completed", stripe_api.pay(sid, payment_status="unpaid"))
    response = send_event(client, stripe_api, "checkout.session.async_payment_failed",
                          stripe_api.settle_async(sid, succeeded=False))
    assert response.get_json()["outcome"] == "payment failed: order expired"
    state = order_state(app)
    assert state["status"] == "expired" and state["payment"]["status"] == "failed"
    assert state["tickets"] == ["cancelled", "cancelled"] and sold(app, paid_event.paid_type_id) == (0, 0)
    deliver(app)
    [mail] = mailbox.to("ada@example.org")
    assert "did not go through" in mail_text(mail) and "Nothing was charged" in mail_text(mail)


def test_expired_after_completed_does_not_cancel(app, client, stripe_api, paid_event):
    session = _paid_session(client, stripe_api, paid_event)
    send_event(client, stripe_api, "checkout.session.completed", session)
    response = send_event(client, stripe_api, "checkout.session.expired", {**session, "status": "expired"})
    assert response.status_code == 200 and response.get_json()["outcome"] == "ignored: already paid"
    state = order_state(app)
    assert state["status"] == "confirmed" and state["tickets"] == ["valid"]
    assert sold(app, paid_event.paid_type_id) == (1, 1)


def test_expired_first_then_completed_confirms_when_seats_are_left(app, client, stripe_api, paid_event, mailbox):
    sid = session_id_from(register(client, paid_event, paid=2).headers["Location"])
    response = send_event(client, stripe_api, "checkout.session.expired", stripe_api.expire(sid))
    assert response.get_json()["outcome"] == "order expired"
    assert order_state(app)["status"] == "expired" and sold(app, paid_event.paid_type_id) == (0, 0)

    # ... but the payment went through after all (events can arrive in any order).
    response = send_event(client, stripe_api, "checkout.session.completed", stripe_api.pay(sid))
    assert response.get_json()["outcome"] == "confirmed_late"
    state = order_state(app)
    assert state["status"] == "confirmed" and state["tickets"] == ["valid", "valid"]
    assert sold(app, paid_event.paid_type_id) == (2, 2)
    assert stripe_api.refund_calls() == []
    deliver(app)
    assert "Paid:   €50.00" in mail_text(mailbox.to("ada@example.org")[0])


def test_a_dashboard_refund_cancels_the_tickets(app, client, stripe_api, paid_event, mailbox):
    session = _paid_session(client, stripe_api, paid_event, paid=2)
    send_event(client, stripe_api, "checkout.session.completed", session)
    charge = stripe_api.charge_for(session["payment_intent"], amount=5000, amount_refunded=2000, currency="eur")
    response = send_event(client, stripe_api, "charge.refunded", charge)
    assert response.get_json()["outcome"] == "partial refund of 2000 recorded"
    assert order_state(app)["status"] == "confirmed"  # a partial refund keeps the tickets

    charge = {**charge, "amount_refunded": 5000, "refunded": True}
    response = send_event(client, stripe_api, "charge.refunded", charge)
    assert response.get_json()["outcome"] == "refunded in the dashboard: order cancelled"
    state = order_state(app)
    assert state["status"] == "refunded" and state["tickets"] == ["cancelled", "cancelled"]
    assert state["payment"]["refunded"] == 5000
    assert sold(app, paid_event.paid_type_id) == (0, 0)
    assert send_event(client, stripe_api, "charge.refunded", charge).get_json()["outcome"] == "already recorded"
    deliver(app)
    assert any("Refund of €30.00" in m.message["Subject"] for m in mailbox.to("ada@example.org"))
