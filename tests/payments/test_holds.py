"""Seat holds: expiry by the worker and on read, late payments with and without seats, the waitlist."""
from __future__ import annotations

from sqlalchemy import select

from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import WaitlistEntry, WaitlistStatus
from eventsite.registration.waitlist import join_waitlist
from tests.payments.conftest import (
    deliver,
    in_app,
    mail_text,
    move_hold,
    order_state,
    register,
    run_worker_tasks,
    send_event,
    session_id_from,
    sold,
)


def test_an_abandoned_checkout_gives_its_seats_back_when_the_hold_runs_out(app, client, stripe_api, paid_event):
    sid = session_id_from(register(client, paid_event, paid=2).headers["Location"])
    run_worker_tasks(app)
    assert order_state(app)["status"] == "pending_payment"  # not yet: the hold runs

    move_hold(app, "ada@example.org")
    run_worker_tasks(app)
    state = order_state(app)
    assert state["status"] == "expired" and state["tickets"] == ["cancelled", "cancelled"]
    assert state["payment"]["status"] == "expired"
    assert sold(app, paid_event.paid_type_id) == (0, 0)

    # Stripe's own expiry notice comes later and changes nothing more.
    response = send_event(client, stripe_api, "checkout.session.expired", stripe_api.expire(sid))
    assert response.status_code == 200 and response.get_json()["outcome"] == "session expired"
    assert order_state(app)["status"] == "expired" and sold(app, paid_event.paid_type_id) == (0, 0)


def test_a_hold_past_its_time_does_not_block_a_seat_even_before_the_worker_runs(app, client, stripe_api, paid_event):
    register(client, paid_event, paid=5)  # every paid seat held
    assert sold(app, paid_event.paid_type_id) == (5, 5)
    refused = register(client, paid_event, email="bea@example.org")
    assert refused.status_code == 409 and "sold out" in refused.get_data(as_text=True)

    move_hold(app, "ada@example.org")  # no worker run
    response = register(client, paid_event, email="bea@example.org")
    assert response.status_code == 303 and response.headers["Location"].startswith("https://checkout.stripe.test/")
    assert order_state(app, "ada@example.org")["status"] == "expired"
    assert order_state(app, "bea@example.org")["status"] == "pending_payment"
    assert sold(app, paid_event.paid_type_id) == (1, 1)


def test_her_own_expired_hold_does_not_stop_her_registering_again(app, client, stripe_api, paid_event):
    first = register(client, paid_event).headers["Location"]
    move_hold(app, "ada@example.org")
    again = register(client, paid_event)
    assert again.status_code == 303 and again.headers["Location"] != first
    assert len(stripe_api.session_creations()) == 2
    assert sold(app, paid_event.paid_type_id) == (1, 1)


def test_paid_just_after_the_hold_ran_out_but_before_the_sweep_confirms(app, client, stripe_api, paid_event):
    sid = session_id_from(register(client, paid_event).headers["Location"])
    move_hold(app, "ada@example.org")
    stripe_api.pay(sid)
    back = client.get(f"/payments/success?session_id={sid}")  # the success page asks Stripe
    assert back.status_code == 303 and "/tickets/" in back.headers["Location"]
    assert order_state(app)["status"] == "confirmed" and sold(app, paid_event.paid_type_id) == (1, 1)


def test_paid_after_expiry_with_seats_left_claims_them_again(app, client, stripe_api, paid_event, mailbox):
    sid = session_id_from(register(client, paid_event, paid=2).headers["Location"])
    move_hold(app, "ada@example.org")
    run_worker_tasks(app)
    assert sold(app, paid_event.paid_type_id) == (0, 0)

    response = send_event(client, stripe_api, "checkout.session.completed", stripe_api.pay(sid))
    assert response.get_json()["outcome"] == "confirmed_late"
    state = order_state(app)
    assert state["status"] == "confirmed" and state["tickets"] == ["valid", "valid"]
    assert sold(app, paid_event.paid_type_id) == (2, 2) and stripe_api.refund_calls() == []
    deliver(app)
    assert "Your 2 tickets are confirmed" in mail_text(mailbox.to("ada@example.org")[0])


def test_paid_after_expiry_without_seats_is_refunded_with_an_apology(app, client, stripe_api, paid_event, mailbox):
    sid = session_id_from(register(client, paid_event, paid=3).headers["Location"])
    move_hold(app, "ada@example.org")
    run_worker_tasks(app)
    register(client, paid_event, email="bea@example.org", paid=4)  # the seats went to someone else
    assert sold(app, paid_event.paid_type_id) == (4, 4)

    session = stripe_api.pay(sid)
    response = send_event(client, stripe_api, "checkout.session.completed", session)
    assert response.get_json()["outcome"] == "refunded"

    state = order_state(app)
    assert state["status"] == "refunded" and state["tickets"] == ["cancelled"] * 3
    assert state["payment"]["paid"] and state["payment"]["refunded"] == 7500
    [call] = stripe_api.refund_calls()
    assert call.params["payment_intent"] == session["payment_intent"] and call.params["amount"] == "7500"
    assert call.idempotency_key == f"eventsite-refund-{state['code']}-1-1"
    assert state["refunds"] == [{"status": "succeeded", "amount": 7500, "reason": "late_payment", "message": None,
                                 "key": call.idempotency_key, "attempts": 1}]
    assert sold(app, paid_event.paid_type_id) == (4, 4)  # Bea keeps her seats

    deliver(app)
    [mail] = mailbox.to("ada@example.org")
    assert "We are sorry" in mail_text(mail) and "€75.00" in mail_text(mail)
    # The success page tells her too, and a repeat of the event changes nothing.
    page = client.get(f"/payments/success?session_id={sid}").get_data(as_text=True)
    assert "We are sorry" in page
    send_event(client, stripe_api, "checkout.session.completed", session)
    assert len(stripe_api.refund_calls()) == 1


def test_freed_seats_are_offered_to_the_waitlist(app, client, stripe_api, paid_event):
    register(client, paid_event, paid=5)

    def bea_waits():
        join_waitlist(db.session.get(Event, paid_event.id), name="Bea Waiting", email="bea@example.org",
                      ticket_type=str(paid_event.paid_type_id), quantity=2)
        db.session.commit()

    in_app(app, bea_waits)
    move_hold(app, "ada@example.org")
    run_worker_tasks(app)

    def entry():
        e = db.session.scalar(select(WaitlistEntry).where(WaitlistEntry.email == "bea@example.org"))
        return e.status, e.quantity

    assert in_app(app, entry) == (WaitlistStatus.OFFERED, 2)
    assert order_state(app)["status"] == "expired"
    assert sold(app, paid_event.paid_type_id) == (2, 2)  # her two seats stay reserved, three back on sale
