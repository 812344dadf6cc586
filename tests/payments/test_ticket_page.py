"""Her ticket page /tickets/<token> for a paid order, in each state: the way to pay while her seats
are held, cancelling (whole order, with the policy's refund) once paid, and what happened to her
money after a refund, a failed refund, a late payment or an expired hold. Every link is followed."""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from tests.conftest import csrf_from
from tests.payments.conftest import (
    in_app,
    move_hold,
    order_state,
    register,
    run_worker_tasks,
    send_event,
    session_id_from,
    sold,
)
from tests.registration.views_helpers import html_of, text_of


def _paid(client, stripe_api, paid_event, *, email="ada@example.org", paid=2) -> str:
    """Register `paid` paid tickets and pay for them (webhook); returns the checkout session id."""
    sid = session_id_from(register(client, paid_event, email=email, paid=paid).headers["Location"])
    send_event(client, stripe_api, "checkout.session.completed", stripe_api.pay(sid))
    return sid


def _ticket_page(client, token) -> str:
    response = client.get(f"/tickets/{token}")
    assert response.status_code == 200
    return html_of(response)


def _links(html: str) -> list[str]:
    return re.findall(r'<a\b[^>]*href="([^"]*)"', html)


def test_a_paid_order_is_cancelled_whole_through_the_refund_page(app, client, stripe_api, paid_event):
    _paid(client, stripe_api, paid_event)
    state = order_state(app)
    token = state["token"]
    html = _ticket_page(client, token)
    text = text_of(html)
    assert state["status"] == "confirmed" and text.count("Valid") == 2
    # One way to cancel: the whole order, on the payment page that applies the refund policy.
    cancel_url = f"/payments/tickets/{token}/cancel"
    assert cancel_url in _links(html) and "Cancel my registration" in text
    assert "All 2 tickets are cancelled together" in text
    assert f"/tickets/{token}/1/cancel" not in html and f"/tickets/{token}/2/cancel" not in html
    assert f'href="/tickets/{token}/cancel"' not in html
    # The free flow's confirmation step for this order (an old link) leads to the same page.
    assert client.get(f"/tickets/{token}/cancel").headers["Location"] == cancel_url
    assert client.get(f"/tickets/{token}/2/cancel").headers["Location"] == cancel_url

    confirm = client.get(cancel_url)
    assert confirm.status_code == 200
    assert "You get a full refund of €50.00." in text_of(html_of(confirm))
    done = client.post(cancel_url, data={"csrf_token": csrf_from(html_of(confirm))})
    assert done.status_code == 303 and done.headers["Location"] == f"/tickets/{token}"
    assert order_state(app)["status"] == "refunded" and sold(app, paid_event.paid_type_id) == (0, 0)

    text = text_of(_ticket_page(client, token))
    assert "This registration is cancelled." in text and "€50.00 was refunded to you." in text
    assert "Cancel my registration" not in text and text.count("Cancelled") == 2


def test_while_she_pays_the_page_links_to_the_payment_with_the_hold_in_the_events_zone(app, client, stripe_api,
                                                                                       paid_event):
    register(client, paid_event, paid=1)
    state = order_state(app)
    token = state["token"]
    html = _ticket_page(client, token)
    text = text_of(html)
    hold = state["hold_expires_at"].astimezone(ZoneInfo("Europe/Berlin"))
    assert "Waiting for payment." in text
    assert f"Your seats are held until {hold.strftime('%a %d %b %Y, %H:%M')} (Europe/Berlin)" in text
    assert 'class="qr"' not in html and "Not valid yet" in text
    # Neither cancel link: an unpaid order is given up on its payment page.
    assert "Cancel my registration" not in text and "/cancel" not in html

    pay_url = f"/payments/for/{token}"
    assert pay_url in _links(html) and "Complete payment" in text
    to_payment = client.get(pay_url)
    assert to_payment.status_code == 303
    assert to_payment.headers["Location"] == f"/payments/order/{state['payment']['token']}"
    payment_page = text_of(html_of(client.get(to_payment.headers["Location"])))
    assert "Pay €25.00 now" in payment_page and "Give up my seats" in payment_page


def test_a_pending_refund_says_it_is_on_its_way(app, client, organizer_client, stripe_api, paid_event):
    _paid(client, stripe_api, paid_event, paid=1)
    state = order_state(app)
    stripe_api.unreachable = True  # Stripe may or may not have it: the refund stays pending
    url = f"/payments/tickets/{state['token']}/cancel"
    client.post(url, data={"csrf_token": csrf_from(html_of(client.get(url)))})
    assert order_state(app)["status"] == "refund_pending"

    text = text_of(_ticket_page(client, state["token"]))
    assert "This registration is cancelled." in text
    assert "Your refund of €25.00 is on its way; you get an email when it is sent." in text
    assert "Cancel my registration" not in text


def test_a_failed_refund_says_the_organizer_sees_it_and_the_retry_reaches_her_page(app, client, organizer_client,
                                                                                   stripe_api, paid_event):
    _paid(client, stripe_api, paid_event)
    state = order_state(app)
    stripe_api.fail_refunds("Your Stripe balance is too low to refund this payment.")
    url = f"/payments/tickets/{state['token']}/cancel"
    client.post(url, data={"csrf_token": csrf_from(html_of(client.get(url)))})
    assert order_state(app)["status"] == "refund_failed"

    text = text_of(_ticket_page(client, state["token"]))
    assert "This registration is cancelled." in text
    assert "Your refund of €50.00 could not be sent yet; the organizer sees this and will send it." in text
    assert "balance is too low" not in text  # Stripe's message is for the organizer

    # The organizer retries; her page then says the money went back.
    refund_url = f"/organizer/events/{paid_event.slug}/payments/{state['code']}/refund"
    confirm = organizer_client.get(refund_url)
    organizer_client.post(refund_url, data={"csrf_token": csrf_from(html_of(confirm))})
    assert order_state(app)["status"] == "refunded"
    assert "€50.00 was refunded to you." in text_of(_ticket_page(client, state["token"]))


def test_an_expired_hold_says_nothing_was_charged_and_offers_to_register_again(app, client, stripe_api, paid_event):
    register(client, paid_event, paid=2)
    move_hold(app, "ada@example.org")
    run_worker_tasks(app)
    state = order_state(app)
    assert state["status"] == "expired"

    html = _ticket_page(client, state["token"])
    text = text_of(html)
    assert "This registration was not confirmed: the time to pay ran out" in text and "Nothing was charged." in text
    assert f"/payments/for/{state['token']}" not in html and "Cancel" not in text.replace("Cancelled", "")
    event_url = f"/events/{paid_event.slug}"
    assert event_url in _links(html)
    assert "Leadership Breakfast" in text_of(html_of(client.get(event_url)))


def test_a_payment_that_came_too_late_says_so_and_what_was_refunded(app, client, stripe_api, paid_event):
    sid = session_id_from(register(client, paid_event, paid=3).headers["Location"])
    move_hold(app, "ada@example.org")
    run_worker_tasks(app)
    register(client, paid_event, email="bea@example.org", paid=4)  # her seats went to someone else
    send_event(client, stripe_api, "checkout.session.completed", stripe_api.pay(sid))
    state = order_state(app)
    assert state["status"] == "refunded"

    text = text_of(_ticket_page(client, state["token"]))
    assert "Your payment came too late to confirm this registration: your seats were gone." in text
    assert "€75.00 was refunded to you." in text
    assert "This registration is cancelled." not in text  # it was never confirmed


def test_a_free_order_at_a_paid_event_keeps_the_free_flow(app, client, stripe_api, paid_event):
    response = register(client, paid_event, paid=0, free=2)
    assert response.status_code == 303
    state = order_state(app)
    assert state["status"] == "confirmed" and state["payment"] is None
    html = _ticket_page(client, state["token"])
    assert f"/tickets/{state['token']}/cancel" in _links(html)
    assert f"/tickets/{state['token']}/2/cancel" in _links(html)
    assert "/payments/" not in html
    confirm = text_of(html_of(client.get(f"/tickets/{state['token']}/cancel")))
    assert "Cancel your registration?" in confirm and "All 2 tickets will stop working" in confirm


def test_a_delayed_payment_on_its_way_is_shown_as_processing(app, client, stripe_api, paid_event):
    sid = session_id_from(register(client, paid_event, paid=1).headers["Location"])
    send_event(client, stripe_api, "checkout.session.completed", stripe_api.pay(sid, payment_status="unpaid"))
    state = order_state(app)
    assert state["status"] == "pending_payment" and state["payment"]["status"] == "processing"

    html = _ticket_page(client, state["token"])
    text = text_of(html)
    assert "Your payment is being processed." in text and "Complete payment" not in text
    assert f"/payments/for/{state['token']}" in _links(html) and "See your payment" in text
    status_page = client.get(f"/payments/for/{state['token']}", follow_redirects=True)
    assert "Your payment is being processed" in text_of(html_of(status_page))


def test_a_hold_that_ran_out_before_the_sweep_says_so(app, client, stripe_api, paid_event):
    register(client, paid_event, paid=1)
    move_hold(app, "ada@example.org", minutes_ago=5)  # no worker run yet
    state = order_state(app)
    assert state["status"] == "pending_payment"
    text = text_of(_ticket_page(client, state["token"]))
    hold = state["hold_expires_at"].astimezone(ZoneInfo("Europe/Berlin")).strftime("%a %d %b %Y, %H:%M")
    assert f"The time to pay has run out. Your seats were held until {hold} (Europe/Berlin)" in text
    assert "Nothing was charged." in text and "Complete payment" not in text
