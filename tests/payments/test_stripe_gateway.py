"""The Stripe gateway against the fake Stripe API: what it sends (parameters, idempotency key, key),
what it gives back (Stripe's JSON as plain dicts), and the library's retries and errors when Stripe
cannot be reached or refuses."""
from __future__ import annotations

import time

import pytest

from eventsite.payments.stripe_gateway import GatewayError, StripeGateway
from tests.payments.conftest import SECRET_KEY

PARAMS = {
    "mode": "payment",
    "line_items": [{"quantity": 2, "price_data": {"currency": "eur", "unit_amount": 2500,
                                                  "product_data": {"name": "Conference pass · Summit"}}}],
    "customer_email": "ada@example.org",
    "client_reference_id": "order-7",
    "metadata": {"order_id": "7", "order_code": "ABCD1234", "event": "summit"},
    "payment_intent_data": {"metadata": {"order_id": "7"}, "description": "Summit · order ABCD1234"},
    "success_url": "https://eventsite.test/payments/success?session_id={CHECKOUT_SESSION_ID}",
    "cancel_url": "https://eventsite.test/payments/order/TOKEN",
}


@pytest.fixture
def gateway(stripe_api) -> StripeGateway:
    return StripeGateway(SECRET_KEY, api_base=stripe_api.url)


def _params() -> dict:
    return {**PARAMS, "expires_at": int(time.time()) + 3600}


def test_a_session_is_created_with_the_parameters_and_key_and_comes_back_as_plain_dicts(gateway, stripe_api):
    params = _params()
    session = gateway.create_checkout_session(params, idempotency_key="eventsite-checkout-ABCD1234-7-1")

    assert type(session) is dict  # plain data, no StripeObject
    assert isinstance(session["metadata"], dict) and session["metadata"]["order_id"] == "7"
    assert session["amount_total"] == 5000 and session["currency"] == "eur"
    assert session["url"] == f"https://checkout.stripe.test/c/pay/{session['id']}"
    [call] = stripe_api.session_creations()
    assert call.idempotency_key == "eventsite-checkout-ABCD1234-7-1"
    assert call.authorization == f"Bearer {SECRET_KEY}"
    assert call.params["metadata"] == PARAMS["metadata"]
    assert call.params["line_items"] == [{"quantity": "2", "price_data": {
        "currency": "eur", "unit_amount": "2500", "product_data": {"name": "Conference pass · Summit"}}}]
    assert call.params["expires_at"] == str(params["expires_at"])

    again = gateway.create_checkout_session(params, idempotency_key="eventsite-checkout-ABCD1234-7-1")
    assert again["id"] == session["id"]  # Stripe replays the answer for the same key


def test_retrieve_expire_and_refund_answer_plain_dicts_and_an_unknown_session_is_none(gateway, stripe_api):
    session = gateway.create_checkout_session(_params(), idempotency_key="k-retrieve")
    assert gateway.retrieve_checkout_session(session["id"])["status"] == "open"
    assert gateway.retrieve_checkout_session("cs_test_nobody") is None
    assert gateway.expire_checkout_session(session["id"])["status"] == "expired"
    with pytest.raises(GatewayError) as refused:
        gateway.expire_checkout_session(session["id"])
    assert refused.value.http_status == 400 and not refused.value.retryable

    paid = stripe_api.pay(gateway.create_checkout_session(_params(), idempotency_key="k-pay")["id"])
    refund = gateway.create_refund(payment_intent=paid["payment_intent"], amount=1000,
                                   metadata={"order_id": "7"}, idempotency_key="refund-7-1")
    assert refund["amount"] == 1000 and refund["metadata"] == {"order_id": "7"}
    assert stripe_api.refund_calls()[-1].idempotency_key == "refund-7-1"


def test_unreachable_stripe_is_tried_three_times_with_the_same_key_then_a_retryable_error(gateway, stripe_api):
    stripe_api.unreachable = True
    with pytest.raises(GatewayError) as failed:
        gateway.create_checkout_session(_params(), idempotency_key="k-unreachable")
    assert failed.value.retryable and failed.value.message == "Stripe could not be reached. Try again in a moment."
    assert stripe_api.dropped == 3  # the first request and the library's two retries

    stripe_api.unreachable = False
    assert gateway.create_checkout_session(_params(), idempotency_key="k-unreachable")["status"] == "open"


def test_stripe_down_is_a_retryable_error_with_its_message(gateway, stripe_api):
    stripe_api.down = True
    with pytest.raises(GatewayError) as failed:
        gateway.create_checkout_session(_params(), idempotency_key="k-down")
    assert failed.value.retryable and failed.value.http_status == 500
    assert "bad day" in failed.value.message
