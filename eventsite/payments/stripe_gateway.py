"""Every call to Stripe, and the only module that imports `stripe`.

The rest of eventsite sees plain dicts (a Checkout Session, a Refund, a webhook event, with Stripe's
field names) and two exceptions: `GatewayError` (Stripe said no, or could not be reached; `retryable`
tells which) and `InvalidSignatureError` (a webhook we must not believe). So the services can be
read, and tested, without knowing the library, and the dev payment page (`providers.DevGateway`) can
stand in for Stripe with the same four methods.

The client is a `stripe.StripeClient` (no global `stripe.api_key`), with `STRIPE_API_BASE` as its API
base address when set (the tests' fake Stripe), a bounded timeout, and the library's own network
retries, which resend the same idempotency key.
"""
from __future__ import annotations

from typing import Any

import stripe

WEBHOOK_TOLERANCE_SECONDS = 300  # Stripe's default: an older signature is a replay
HTTP_TIMEOUT_SECONDS = 20


class GatewayError(Exception):
    """Stripe refused the request or could not be reached. `message` is Stripe's, for the organizer."""

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False,
                 http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.http_status = http_status


class InvalidSignatureError(Exception):
    """A webhook whose Stripe-Signature is missing, forged or too old, or whose body is not an event."""


def _gateway_error(e: stripe.StripeError) -> GatewayError:
    status = e.http_status
    retryable = (
        isinstance(e, (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError))
        or (status is not None and (status >= 500 or status == 409))  # 409: the same key still in flight
    )
    message = (e.user_message or str(e) or type(e).__name__).strip()
    if isinstance(e, stripe.APIConnectionError):
        message = "Stripe could not be reached. Try again in a moment."
    return GatewayError(message, code=getattr(e, "code", None), retryable=retryable, http_status=status)


def _plain(obj: Any) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class StripeGateway:
    provider = "stripe"

    def __init__(self, secret_key: str, *, api_base: str | None = None, timeout: float = HTTP_TIMEOUT_SECONDS,
                 max_network_retries: int = 2):
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def create_checkout_session(self, params: dict, *, idempotency_key: str) -> dict:
        try:
            session = self._client.v1.checkout.sessions.create(params=params, options={"idempotency_key": idempotency_key})
        except stripe.StripeError as e:
            raise _gateway_error(e) from e
        return _plain(session)

    def retrieve_checkout_session(self, session_id: str) -> dict | None:
        """The session as Stripe has it now; None when Stripe does not know it."""
        try:
            session = self._client.v1.checkout.sessions.retrieve(session_id)
        except stripe.InvalidRequestError as e:
            if e.http_status == 404:
                return None
            raise _gateway_error(e) from e
        except stripe.StripeError as e:
            raise _gateway_error(e) from e
        return _plain(session)

    def expire_checkout_session(self, session_id: str) -> dict:
        try:
            return _plain(self._client.v1.checkout.sessions.expire(session_id))
        except stripe.StripeError as e:
            raise _gateway_error(e) from e

    def create_refund(self, *, payment_intent: str, amount: int, metadata: dict[str, str],
                      idempotency_key: str) -> dict:
        params = {"payment_intent": payment_intent, "amount": amount, "metadata": metadata}
        try:
            refund = self._client.v1.refunds.create(params=params, options={"idempotency_key": idempotency_key})
        except stripe.StripeError as e:
            raise _gateway_error(e) from e
        return _plain(refund)


def construct_event(payload: bytes, sig_header: str | None, secret: str,
                    *, tolerance: int = WEBHOOK_TOLERANCE_SECONDS) -> dict:
    """Verify a webhook's raw body against its Stripe-Signature header; the event as a plain dict."""
    try:
        event = stripe.Webhook.construct_event(payload, sig_header, secret, tolerance)
    except stripe.SignatureVerificationError as e:
        raise InvalidSignatureError(str(e).split("\n")[0]) from None
    except ValueError:  # not UTF-8, not JSON
        raise InvalidSignatureError("The body is not a JSON event.") from None
    data = _plain(event)
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise InvalidSignatureError("The body is not a Stripe event.")
    return data


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    """`t=...,v1=...` for `payload`: how the dev payment page signs the webhook it sends itself."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
