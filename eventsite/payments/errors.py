"""What the payment rules can refuse, each with a stable machine `code` that views translate."""
from __future__ import annotations

from eventsite.core.errors import ConflictError, DomainError, NotFoundError


class PaymentsUnavailableError(DomainError):
    """No payment provider is configured (production without STRIPE_SECRET_KEY), or Stripe could not
    start a checkout right now. Nothing was charged; the seats stay held until the hold runs out."""

    code = "payments_unavailable"
    status = 503


class NotPayableError(ConflictError):
    """This order cannot be paid (free, already paid, or its hold ran out)."""

    code = "not_payable"


class NotRefundableError(ConflictError):
    code = "not_refundable"


class UnknownPaymentError(NotFoundError):
    """A payment link or Checkout Session id that is not one of ours."""

    code = "unknown_payment"

    def __init__(self, message: str = "We could not find this payment. Check the link, or look for your "
                                      "confirmation email."):
        super().__init__(message)


class WebhookRejectedError(DomainError):
    """A webhook we must not believe: missing, forged or stale signature, or not an event (400)."""

    code = "bad_signature"
    status = 400


class WebhookNotConfiguredError(DomainError):
    """No webhook secret (production without STRIPE_WEBHOOK_SECRET): Stripe should retry later (503)."""

    code = "webhook_not_configured"
    status = 503
