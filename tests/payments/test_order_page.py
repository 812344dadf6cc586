"""The organizer's order page /organizer/events/<slug>/orders/<code> for a paid order: payment state,
amount, Stripe ids, refunds; the Refund link (and, after a failure, Stripe's message and a retry)."""
from __future__ import annotations

from tests.conftest import csrf_from
from tests.payments.conftest import (
    order_state,
    register,
    send_event,
    session_id_from,
)
from tests.registration.views_helpers import html_of, text_of


def _order_page(organizer_client, paid_event, code) -> str:
    response = organizer_client.get(f"/organizer/events/{paid_event.slug}/orders/{code}")
    assert response.status_code == 200
    return html_of(response)


def _section(html: str, heading_id: str) -> str:
    start = html.index(f'aria-labelledby="{heading_id}"')
    return html[start:html.index("</section>", start)]


def test_a_paid_order_shows_its_payment_and_refunds_from_the_order_page(app, client, organizer_client, stripe_api,
                                                                        paid_event):
    sid = session_id_from(register(client, paid_event, paid=2).headers["Location"])
    session = stripe_api.pay(sid)
    send_event(client, stripe_api, "checkout.session.completed", session)
    state = order_state(app)

    html = _order_page(organizer_client, paid_event, state["code"])
    payment = text_of(_section(html, "payment-heading"))
    assert "State Confirmed" in payment and "Payment: Paid" in payment and "Amount €50.00" in payment
    assert f"Checkout Session {sid}" in payment and f"Payment {session['payment_intent']}" in payment
    refund_url = f"/organizer/events/{paid_event.slug}/payments/{state['code']}/refund"
    assert f'href="{refund_url}"' in _section(html, "payment-heading") and "Refund €50.00…" in payment
    # Paid orders are cancelled by refunding them: no cancel links that would only be refused.
    assert f"/orders/{state['code']}/cancel" not in html and "/tickets/" not in _section(html, "tickets-heading")
    assert "it is cancelled by refunding it" in text_of(_section(html, "actions-heading"))

    confirm = organizer_client.get(refund_url)
    assert "Refund €50.00" in text_of(html_of(confirm))
    done = organizer_client.post(refund_url, data={"csrf_token": csrf_from(html_of(confirm))})
    assert done.status_code == 303
    assert order_state(app)["status"] == "refunded"
    [call] = stripe_api.refund_calls()

    payment = text_of(_section(_order_page(organizer_client, paid_event, state["code"]), "payment-heading"))
    assert "State Refunded" in payment and "refunded €50.00" in payment
    assert "€50.00: succeeded (By the organizer)" in payment
    assert "Refund €" not in payment and "Retry" not in payment  # nothing left to refund


def test_a_failed_refund_shows_stripes_message_and_a_retry_that_works(app, client, organizer_client, stripe_api,
                                                                     paid_event):
    sid = session_id_from(register(client, paid_event, paid=1).headers["Location"])
    send_event(client, stripe_api, "checkout.session.completed", stripe_api.pay(sid))
    code = order_state(app)["code"]
    refund_url = f"/organizer/events/{paid_event.slug}/payments/{code}/refund"
    stripe_api.fail_refunds("Your Stripe balance is too low to refund this payment.")
    organizer_client.post(refund_url, data={"csrf_token": csrf_from(html_of(organizer_client.get(refund_url)))})
    assert order_state(app)["status"] == "refund_failed"

    html = _order_page(organizer_client, paid_event, code)
    section = _section(html, "payment-heading")
    assert "State Refund failed" in text_of(section)
    assert "The refund failed. Stripe said: Your Stripe balance is too low to refund this payment." in text_of(section)
    assert f'href="{refund_url}"' in section and "Retry the refund…" in text_of(section)

    confirm = organizer_client.get(refund_url)
    assert "Retry the refund" in text_of(html_of(confirm))
    organizer_client.post(refund_url, data={"csrf_token": csrf_from(html_of(confirm))})
    assert order_state(app)["status"] == "refunded"
    section = text_of(_section(_order_page(organizer_client, paid_event, code), "payment-heading"))
    assert "State Refunded" in section and "Stripe said" not in section and "€25.00: succeeded" in section


def test_an_order_awaiting_payment_shows_its_session_and_when_the_hold_ends(app, client, organizer_client,
                                                                            stripe_api, paid_event):
    sid = session_id_from(register(client, paid_event, paid=1).headers["Location"])
    state = order_state(app)
    html = _order_page(organizer_client, paid_event, state["code"])
    payment = text_of(_section(html, "payment-heading"))
    assert "State Awaiting payment" in payment and "Payment: Awaiting payment" in payment
    assert f"Checkout Session {sid}" in payment and "Amount €25.00" in payment
    assert "/refund" not in _section(html, "payment-heading")  # nothing paid, nothing to refund
    actions = text_of(_section(html, "actions-heading"))
    assert "its seats go back on sale by themselves" in actions and "Cancel the whole order" not in actions


def test_a_free_order_has_no_payment_section_and_keeps_its_cancel_link(app, client, organizer_client, stripe_api,
                                                                       paid_event):
    register(client, paid_event, paid=0, free=1)
    code = order_state(app)["code"]
    html = _order_page(organizer_client, paid_event, code)
    assert 'id="payment-heading"' not in html
    assert f"/organizer/events/{paid_event.slug}/orders/{code}/cancel" in html
