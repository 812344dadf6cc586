"""Paid registration end to end against the fake Stripe: the form, Checkout, the webhook, the email,
the ticket page; what Stripe was asked (amounts, idempotency keys, expiry); bad input."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from eventsite.core.db import utcnow
from tests.payments.conftest import (
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


def test_happy_path_register_pay_webhook_email_ticket_page(app, client, stripe_api, paid_event, mailbox):
    response = register(client, paid_event, paid=2, free=1)
    assert response.status_code == 303
    url = response.headers["Location"]
    assert url.startswith("https://checkout.stripe.test/c/pay/cs_test_")
    sid = session_id_from(url)

    state = order_state(app)
    assert state["status"] == "pending_payment" and state["total_cents"] == 5000
    assert state["payment"]["session_id"] == sid and state["payment"]["status"] == "open"
    assert sold(app, paid_event.paid_type_id) == (2, 3)  # seats held while she pays

    # What Stripe was asked: one session, priced from the order, keyed by the order, expiring with the hold.
    [call] = stripe_api.session_creations()
    p = call.params
    assert call.idempotency_key == f"eventsite-checkout-{state['code']}-{state['id']}-1"
    assert p["mode"] == "payment" and p["customer_email"] == "ada@example.org"
    assert p["metadata"]["order_id"] == str(state["id"])
    assert p["line_items"] == [{"quantity": "2", "price_data": {
        "currency": "eur", "unit_amount": "2500", "product_data": {"name": "Conference pass · Leadership Breakfast"}}}]
    assert p["success_url"] == "http://eventsite.test/payments/success?session_id={CHECKOUT_SESSION_ID}"
    assert p["cancel_url"] == f"http://eventsite.test/payments/order/{state['payment']['token']}"
    expires = datetime.fromtimestamp(int(p["expires_at"]), UTC)
    assert expires == state["hold_expires_at"] == state["payment"]["checkout_expires_at"]
    assert timedelta(minutes=30) < expires - utcnow() <= timedelta(minutes=33)

    # She pays; Stripe sends checkout.session.completed.
    session = stripe_api.pay(sid)
    hook = send_event(client, stripe_api, "checkout.session.completed", session)
    assert hook.status_code == 200 and hook.get_json()["outcome"] == "confirmed"

    state = order_state(app)
    assert state["status"] == "confirmed" and state["tickets"] == ["valid", "valid", "valid"]
    assert state["payment"]["paid"] and state["payment"]["payment_intent"] == session["payment_intent"]
    assert state["hold_expires_at"] is None
    assert sold(app, paid_event.paid_type_id) == (2, 3)

    # The confirmation email, with the amount paid.
    deliver(app)
    [mail] = mailbox.to("ada@example.org")
    text = mail_text(mail)
    assert "Paid:   €50.00" in text and "Your 3 tickets are confirmed" in text
    assert f"/tickets/{state['token']}" in text

    # Back from Stripe: the success page sends her to her tickets.
    back = client.get(f"/payments/success?session_id={sid}")
    assert back.status_code == 303 and back.headers["Location"].endswith(f"/tickets/{state['token']}")
    page = client.get(back.headers["Location"]).get_data(as_text=True)
    assert page.count('class="badge badge-ok">Valid') == 3 and "Waiting for payment" not in page


def test_success_page_confirms_before_the_webhook_and_the_webhook_is_then_a_no_op(app, client, stripe_api,
                                                                                   paid_event, mailbox):
    sid = session_id_from(register(client, paid_event).headers["Location"])
    stripe_api.pay(sid)

    # The webhook is late: the success page asks Stripe and fulfils at once.
    back = client.get(f"/payments/success?session_id={sid}")
    assert back.status_code == 303
    assert order_state(app)["status"] == "confirmed"
    assert [r.path for r in stripe_api.calls("GET", "/v1/checkout/sessions/")] == [f"/v1/checkout/sessions/{sid}"]

    hook = send_event(client, stripe_api, "checkout.session.completed", stripe_api.sessions[sid])
    assert hook.get_json()["outcome"] == "already_fulfilled"
    assert outbox_keys(app).count(f"confirmation:{order_state(app)['id']}") == 1
    deliver(app)
    assert len(mailbox.to("ada@example.org")) == 1


def test_success_page_waits_while_the_payment_is_not_confirmed(app, client, stripe_api, paid_event):
    sid = session_id_from(register(client, paid_event).headers["Location"])
    page = client.get(f"/payments/success?session_id={sid}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Confirming your payment" in html and 'http-equiv="refresh"' in html
    assert order_state(app)["status"] == "pending_payment"


def test_going_back_to_checkout_reuses_the_same_session(app, client, stripe_api, paid_event):
    url = register(client, paid_event).headers["Location"]
    token = order_state(app)["payment"]["token"]
    # Stripe's cancel URL is her payment page: she can pay again or give the seats up.
    page = client.get(f"/payments/order/{token}")
    assert page.status_code == 200 and "Your payment is not complete" in page.get_data(as_text=True)
    from tests.conftest import csrf_from

    again = client.post(f"/payments/order/{token}/pay", data={"csrf_token": csrf_from(page.data)})
    assert again.status_code == 303 and again.headers["Location"] == url
    assert len(stripe_api.session_creations()) == 1


def test_giving_up_releases_the_seats_and_expires_the_session(app, client, stripe_api, paid_event):
    register(client, paid_event, paid=2)
    state = order_state(app)
    token = state["payment"]["token"]
    from tests.conftest import csrf_from

    page = client.get(f"/payments/order/{token}")
    response = client.post(f"/payments/order/{token}/release", data={"csrf_token": csrf_from(page.data)})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/events/{paid_event.slug}")
    assert order_state(app)["status"] == "cancelled"
    assert sold(app, paid_event.paid_type_id) == (0, 0)
    assert stripe_api.sessions[state["payment"]["session_id"]]["status"] == "expired"
    # and she may register again at once
    assert register(client, paid_event).status_code == 303


def test_a_short_hold_is_extended_to_stripes_thirty_minutes(app, client, stripe_api, paid_event):
    from eventsite.events.models import Event
    from eventsite.extensions import db
    from tests.payments.conftest import in_app

    def shorten():
        db.session.get(Event, paid_event.id).hold_minutes = 10
        db.session.commit()

    in_app(app, shorten)
    before = utcnow()
    register(client, paid_event)
    state = order_state(app)
    expires = int(stripe_api.session_creations()[0].params["expires_at"])
    assert expires >= int((before + timedelta(minutes=30)).timestamp())
    assert int(state["hold_expires_at"].timestamp()) == expires  # the hold follows the session


def test_free_order_never_touches_stripe(app, client, stripe_api, paid_event):
    response = register(client, paid_event, paid=0, free=1)
    assert response.status_code == 303 and "/tickets/" in response.headers["Location"]
    assert order_state(app)["status"] == "confirmed" and order_state(app)["payment"] is None
    assert stripe_api.requests == []


def test_tampered_quantities_and_prices_in_the_form_are_refused(app, client, stripe_api, paid_event):
    # A price or amount field is simply not something the form reads: the price comes from the ticket type.
    response = register(client, paid_event, extra={"price": "1", "amount": "1", "total_cents": "1",
                                                   f"price-{paid_event.paid_type_id}": "0"})
    assert response.status_code == 303
    assert stripe_api.session_creations()[0].params["line_items"][0]["price_data"]["unit_amount"] == "2500"
    assert order_state(app)["total_cents"] == 2500

    # Negative, absurd or foreign quantities: a clear 4xx, nothing held, nothing asked of Stripe.
    for bad in ({f"quantity-{paid_event.paid_type_id}": "-2"}, {f"quantity-{paid_event.paid_type_id}": "1e9"},
                {f"quantity-{paid_event.paid_type_id}": "99"}, {"quantity-999999": "1"}):
        response = register(client, paid_event, email="eve@example.org", extra=bad)
        assert 400 <= response.status_code < 500, bad
    assert len(stripe_api.session_creations()) == 1
    assert sold(app, paid_event.paid_type_id) == (1, 1)


def test_unknown_or_foreign_session_on_the_success_page_is_404(app, client, stripe_api, paid_event):
    register(client, paid_event)
    foreign = stripe_api.add_foreign_session(amount=2500, currency="eur",
                                             metadata={"order_id": str(order_state(app)["id"])})
    for sid in (foreign["id"], "cs_test_doesnotexist", "nonsense", "cs_" + "x" * 400, ""):
        response = client.get("/payments/success", query_string={"session_id": sid})
        assert response.status_code == 404, sid
        assert "could not find this payment" in response.get_data(as_text=True)
    assert order_state(app)["status"] == "pending_payment"
    assert stripe_api.calls("GET", "/v1/checkout/sessions/") == []  # never asked Stripe about them


def test_stripe_down_leaves_the_seats_held_and_a_way_to_pay_later(app, client, stripe_api, paid_event):
    stripe_api.down = True
    response = register(client, paid_event)
    assert response.status_code == 303
    state = order_state(app)
    assert response.headers["Location"] == f"/payments/order/{state['payment']['token']}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "We could not start the payment" in page and "Pay €25.00 now" in page
    assert state["status"] == "pending_payment" and sold(app, paid_event.paid_type_id) == (1, 1)

    stripe_api.down = False
    from tests.conftest import csrf_from

    again = client.post(f"/payments/order/{state['payment']['token']}/pay",
                        data={"csrf_token": csrf_from(page)})
    assert again.status_code == 303 and again.headers["Location"].startswith("https://checkout.stripe.test/")
    keys = [c.idempotency_key for c in stripe_api.session_creations()]
    assert keys[-1].endswith("-2") and len(set(keys)) == 2  # a failed key is never reused


def test_webhooks_are_stored_once(app, client, stripe_api, paid_event):
    sid = session_id_from(register(client, paid_event).headers["Location"])
    session = stripe_api.pay(sid)
    first = send_event(client, stripe_api, "checkout.session.completed", session, event_id="evt_same")
    second = send_event(client, stripe_api, "checkout.session.completed", session, event_id="evt_same")
    assert first.get_json()["outcome"] == "confirmed"
    assert second.status_code == 200 and second.get_json()["duplicate"] is True
    assert stored_events(app) == 1
    assert re.fullmatch(r"confirmation:\d+", next(iter(outbox_keys(app))))


def test_a_used_session_id_never_confirms_again(app, client, stripe_api, paid_event, organizer_client):
    """After the organizer refunded the order, its (paid) session id on the success page changes nothing."""
    from tests.conftest import post_form

    sid = session_id_from(register(client, paid_event).headers["Location"])
    send_event(client, stripe_api, "checkout.session.completed", stripe_api.pay(sid))
    state = order_state(app)
    post_form(organizer_client, f"/organizer/events/{paid_event.slug}/payments/{state['code']}/refund", {})
    assert order_state(app)["status"] == "refunded"

    page = client.get(f"/payments/success?session_id={sid}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "This registration is cancelled" in html and "refunded" in html and "We are sorry" not in html
    again = send_event(client, stripe_api, "checkout.session.completed", stripe_api.sessions[sid])
    assert again.get_json()["outcome"] == "already_fulfilled"
    assert order_state(app)["status"] == "refunded" and order_state(app)["tickets"] == ["cancelled"]
    assert sold(app, paid_event.paid_type_id) == (0, 0)
