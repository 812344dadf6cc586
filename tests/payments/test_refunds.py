"""Refunds: the organizer's Payments page and button, failures and retries, her own cancellation
within the refund policy, a cancelled event, and refunded tickets at the door."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from eventsite.accounts.models import Role, User
from eventsite.checkin.services import check_in
from eventsite.core.db import utcnow
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Order, Ticket
from tests.conftest import csrf_from, login, post_form
from tests.factories import make_member, make_organizer
from tests.payments.conftest import (
    deliver,
    in_app,
    mail_text,
    order_state,
    register,
    run_worker_tasks,
    send_event,
    session_id_from,
    sold,
)


def _paid(client, stripe_api, paid_event, email="ada@example.org", paid=2) -> dict:
    sid = session_id_from(register(client, paid_event, email=email, paid=paid).headers["Location"])
    send_event(client, stripe_api, "checkout.session.completed", stripe_api.pay(sid))
    return stripe_api.sessions[sid]


def _payments_page(organizer_client, paid_event) -> str:
    response = organizer_client.get(f"/organizer/events/{paid_event.slug}/payments")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _refund(organizer_client, paid_event, code):
    url = f"/organizer/events/{paid_event.slug}/payments/{code}/refund"
    return post_form(organizer_client, url, {})


def test_organizer_sees_revenue_and_refunds_in_one_click(app, client, organizer_client, stripe_api, paid_event,
                                                         mailbox, organizer):
    session = _paid(client, stripe_api, paid_event)
    _paid(client, stripe_api, paid_event, email="bea@example.org", paid=1)
    state = order_state(app)

    html = _payments_page(organizer_client, paid_event)
    assert "€75.00" in html  # paid 50 + 25, nothing refunded yet
    assert state["code"] in html and session["id"] in html and session["payment_intent"] in html
    assert f"/payments/{state['code']}/refund" in html

    confirm = organizer_client.get(f"/organizer/events/{paid_event.slug}/payments/{state['code']}/refund")
    assert "Refund €50.00" in confirm.get_data(as_text=True) and order_state(app)["status"] == "confirmed"

    response = _refund(organizer_client, paid_event, state["code"])
    assert response.status_code == 303
    state = order_state(app)
    assert state["status"] == "refunded" and state["tickets"] == ["cancelled", "cancelled"]
    assert state["payment"]["refunded"] == 5000
    [call] = stripe_api.refund_calls()
    assert call.params["payment_intent"] == session["payment_intent"] and call.params["amount"] == "5000"
    assert call.idempotency_key == f"eventsite-refund-{state['code']}-1-1"
    assert sold(app, paid_event.paid_type_id) == (1, 1)  # her two seats are back on sale

    page = organizer_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "€50.00 refunded" in page
    revenue = page[page.index("<h2>Revenue"):page.index("<h2>Paid orders")]
    assert "€75.00" in revenue and "€50.00" in revenue and "€25.00" in revenue  # paid, refunded, net

    deliver(app)
    [mail] = [m for m in mailbox.to("ada@example.org") if "Refund" in m.message["Subject"]]
    assert "refunded your order: €50.00" in mail_text(mail)

    # A refunded ticket cannot get in at the door, and refunding again is refused clearly.
    def at_the_door():
        event = db.session.get(Event, paid_event.id)
        staff = db.session.get(User, organizer["id"])
        secret = db.session.scalars(select(Ticket.secret).where(Ticket.order_id == state["id"])).first()
        result = check_in(secret, event=event, staff=staff)
        db.session.commit()
        return result.result.value, result.reason

    assert in_app(app, at_the_door) == ("cancelled", "refunded")
    again = _refund(organizer_client, paid_event, state["code"])
    assert again.status_code == 303
    assert "already been refunded" in organizer_client.get(again.headers["Location"]).get_data(as_text=True)
    assert len(stripe_api.refund_calls()) == 1


def test_a_failed_refund_shows_stripes_message_and_can_be_retried(app, client, organizer_client, stripe_api,
                                                                  paid_event, mailbox):
    _paid(client, stripe_api, paid_event)
    code = order_state(app)["code"]
    stripe_api.fail_refunds("Your Stripe balance is too low to refund this payment.")
    _refund(organizer_client, paid_event, code)

    state = order_state(app)
    assert state["status"] == "refund_failed" and state["tickets"] == ["cancelled", "cancelled"]
    assert state["refunds"][0]["status"] == "failed"
    html = _payments_page(organizer_client, paid_event)
    assert "Refund failed" in html and "Your Stripe balance is too low to refund this payment." in html
    assert "Retry refund" in html

    confirm = organizer_client.get(f"/organizer/events/{paid_event.slug}/payments/{code}/refund").get_data(as_text=True)
    assert "Retry the refund" in confirm and "balance is too low" in confirm
    _refund(organizer_client, paid_event, code)
    state = order_state(app)
    assert state["status"] == "refunded" and state["refunds"][0]["status"] == "succeeded"
    first, second = stripe_api.refund_calls()
    assert first.idempotency_key.endswith("-1-1") and second.idempotency_key.endswith("-1-2")  # a new request
    assert second.params["amount"] == "5000"
    deliver(app)
    assert sum("Refund of €50.00" in m.message["Subject"] for m in mailbox.to("ada@example.org")) == 1


def test_a_refund_that_got_no_answer_is_resent_by_the_worker_with_the_same_key(app, client, organizer_client,
                                                                              stripe_api, paid_event):
    _paid(client, stripe_api, paid_event)
    code = order_state(app)["code"]
    stripe_api.unreachable = True  # the request may or may not have reached Stripe
    _refund(organizer_client, paid_event, code)
    state = order_state(app)
    assert state["status"] == "refund_pending" and state["refunds"][0]["status"] == "pending"
    assert stripe_api.dropped >= 1
    assert "Refund pending" in _payments_page(organizer_client, paid_event)

    stripe_api.unreachable = False
    run_worker_tasks(app)  # not due yet: backoff
    assert stripe_api.refund_calls() == []
    run_worker_tasks(app, utcnow() + timedelta(minutes=5))
    state = order_state(app)
    assert state["status"] == "refunded"
    [call] = stripe_api.refund_calls()
    assert call.idempotency_key == f"eventsite-refund-{code}-1-1"  # the same request as the lost one


def test_a_stripe_500_is_retried_by_the_worker_as_a_new_request(app, client, organizer_client, stripe_api,
                                                                paid_event):
    _paid(client, stripe_api, paid_event)
    code = order_state(app)["code"]
    stripe_api.down = True  # Stripe answers 500, and would replay that answer for the same key
    _refund(organizer_client, paid_event, code)
    assert order_state(app)["status"] == "refund_pending"
    stripe_api.down = False
    run_worker_tasks(app, utcnow() + timedelta(minutes=5))
    assert order_state(app)["status"] == "refunded"
    keys = [c.idempotency_key for c in stripe_api.refund_calls()]
    assert keys[0] != keys[-1] and keys[-1].startswith(f"eventsite-refund-{code}-1-")
    assert stripe_api.refund_calls()[-1].params["amount"] == "5000"


def test_other_organizations_and_door_staff_cannot_see_or_refund(app, client, stripe_api, paid_event, organizer):
    _paid(client, stripe_api, paid_event)
    code = order_state(app)["code"]

    def people():
        make_organizer("stranger@example.org")
        make_member(organizer["organization_id"], Role.CHECKIN, "door@example.org",
                    events=[db.session.get(Event, paid_event.id)])

    in_app(app, people)
    for email, status in (("stranger@example.org", 404), ("door@example.org", 403)):
        c = app.test_client()
        login(c, email)
        assert c.get(f"/organizer/events/{paid_event.slug}/payments").status_code == status
        assert c.get(f"/organizer/events/{paid_event.slug}/payments/{code}/refund").status_code == status
    anonymous = app.test_client().post(f"/organizer/events/{paid_event.slug}/payments/{code}/refund")
    assert anonymous.status_code in (302, 303, 400, 401)
    assert order_state(app)["status"] == "confirmed" and stripe_api.refund_calls() == []


def test_she_cancels_within_the_policy_and_gets_a_full_refund(app, client, stripe_api, paid_event, mailbox):
    _paid(client, stripe_api, paid_event)
    token = order_state(app)["token"]
    page = client.get(f"/payments/tickets/{token}/cancel").get_data(as_text=True)
    assert "full refund if you cancel by" in page and "Cancel and refund €50.00" in page
    event_page = client.get(f"/events/{paid_event.slug}").get_data(as_text=True)
    assert "Refunds: full refund if you cancel by" in event_page  # the policy is on the event page too

    response = client.post(f"/payments/tickets/{token}/cancel", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303 and response.headers["Location"] == f"/tickets/{token}"
    state = order_state(app)
    assert state["status"] == "refunded" and state["refunds"][0]["reason"] == "attendee"
    assert stripe_api.refund_calls()[0].params["amount"] == "5000"
    assert sold(app, paid_event.paid_type_id) == (0, 0)
    deliver(app)
    assert any("cancelled, as you asked, and we have refunded €50.00" in mail_text(m)
               for m in mailbox.to("ada@example.org"))


def test_after_the_deadline_cancelling_refunds_nothing(app, client, stripe_api, paid_event, mailbox):
    _paid(client, stripe_api, paid_event)

    def close_in():  # the event is now 3 days away; refunds end 7 days before
        event = db.session.get(Event, paid_event.id)
        event.starts_at = utcnow() + timedelta(days=3)
        event.ends_at = event.starts_at + timedelta(hours=3)
        db.session.commit()

    in_app(app, close_in)
    token = order_state(app)["token"]
    page = client.get(f"/payments/tickets/{token}/cancel").get_data(as_text=True)
    assert "Refunds ended on" in page and "Cancel without a refund" in page
    client.post(f"/payments/tickets/{token}/cancel", data={"csrf_token": csrf_from(page)})
    state = order_state(app)
    assert state["status"] == "cancelled" and state["refunds"] == [] and stripe_api.refund_calls() == []
    assert sold(app, paid_event.paid_type_id) == (0, 0)
    deliver(app)
    assert any("Cancelled" in m.message["Subject"] for m in mailbox.to("ada@example.org"))


def test_no_policy_means_no_refund_and_a_used_ticket_cannot_be_cancelled(app, client, stripe_api, paid_event,
                                                                         organizer):
    def no_refunds():
        db.session.get(Event, paid_event.id).refund_until_days_before = None
        db.session.commit()

    in_app(app, no_refunds)
    _paid(client, stripe_api, paid_event)
    token = order_state(app)["token"]
    page = client.get(f"/payments/tickets/{token}/cancel").get_data(as_text=True)
    assert "not refunded when you cancel" in page and "Cancel without a refund" in page
    csrf = csrf_from(page)

    def used():
        order = db.session.scalar(select(Order).where(Order.token == token))
        order.tickets[0].checked_in_at = utcnow()
        db.session.commit()

    in_app(app, used)
    page = client.get(f"/payments/tickets/{token}/cancel").get_data(as_text=True)
    assert "already used at the door" in page and "Cancel without a refund" not in page
    response = client.post(f"/payments/tickets/{token}/cancel", data={"csrf_token": csrf})  # a stale tab
    assert response.status_code == 303
    assert "already used at the door" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert order_state(app)["status"] == "confirmed"


def test_cancelling_the_event_refunds_every_paid_order(app, client, organizer_client, stripe_api, paid_event,
                                                       mailbox):
    _paid(client, stripe_api, paid_event)
    _paid(client, stripe_api, paid_event, email="bea@example.org", paid=1)
    register(client, paid_event, email="cleo@example.org")  # still paying: nothing to refund

    response = post_form(organizer_client, f"/organizer/events/{paid_event.slug}/cancel", {})
    assert response.status_code in (302, 303)
    assert order_state(app)["status"] == "refund_pending"
    assert order_state(app, "cleo@example.org")["status"] == "cancelled"

    run_worker_tasks(app)  # the worker sends the refunds
    assert order_state(app)["status"] == "refunded" and order_state(app, "bea@example.org")["status"] == "refunded"
    assert sorted(c.params["amount"] for c in stripe_api.refund_calls()) == ["2500", "5000"]
    run_worker_tasks(app)
    assert len(stripe_api.refund_calls()) == 2
    deliver(app)
    assert any("has been cancelled by the organizer, so we have refunded €25.00" in mail_text(m)
               for m in mailbox.to("bea@example.org"))


def test_a_late_charge_refunded_event_settles_our_own_refund_once(app, client, organizer_client, stripe_api,
                                                                  paid_event, mailbox):
    session = _paid(client, stripe_api, paid_event)
    _refund(organizer_client, paid_event, order_state(app)["code"])
    charge = stripe_api.charge_for(session["payment_intent"], amount=5000, amount_refunded=5000, currency="eur")
    response = send_event(client, stripe_api, "charge.refunded", charge)
    assert response.get_json()["outcome"] == "already recorded"
    state = order_state(app)
    assert state["status"] == "refunded" and len(state["refunds"]) == 1 and state["payment"]["refunded"] == 5000
