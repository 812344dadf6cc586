"""Which payment provider this app talks to, and the development stand-in for Stripe.

Three modes, decided per request from the configuration (never at import time):
- `stripe`: `STRIPE_SECRET_KEY` is set. Checkout goes to Stripe (at `STRIPE_API_BASE` when set: the
  tests' fake Stripe), webhooks are verified with `STRIPE_WEBHOOK_SECRET`.
- `dev`: no key, and not production (`make run`). Paid tickets go through the dev payment page
  ("Test payment — no money moves"), which signs a webhook event with a secret generated once under
  `instance/stripe_dev_webhook_secret` and delivers it to `/stripe/webhook` like Stripe would, so
  the whole path (signature check, event store, fulfilment, email) runs by hand.
- `off`: production without a key. Paid registrations are refused with a clear message.

The dev page is reachable only in `dev` mode: with a real key set, or in production, its routes
answer 404 (and the dev secret is not accepted by the webhook, whose secret is then
`STRIPE_WEBHOOK_SECRET` alone).
"""
from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app

from eventsite.core.security import random_token

DEV_SECRET_FILE = "stripe_dev_webhook_secret"


class DevGateway:
    """The dev payment page's stand-in for Stripe: sessions live on the Payment row, refunds succeed
    at once, and no money moves anywhere."""

    provider = "dev"

    def create_checkout_session(self, params: dict, *, idempotency_key: str) -> dict:
        sid = "cs_dev_" + random_token(130).lower()
        items = params.get("line_items") or []
        return {
            "id": sid,
            "object": "checkout.session",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": sum(int(i["price_data"]["unit_amount"]) * int(i["quantity"]) for i in items),
            "currency": items[0]["price_data"]["currency"] if items else None,
            "metadata": dict(params.get("metadata") or {}),
            "expires_at": params.get("expires_at"),
            "payment_intent": None,
            "url": f"/payments/dev/checkout/{sid}",  # relative: the same host she is on
        }

    def retrieve_checkout_session(self, session_id: str) -> dict | None:
        return None  # the dev page's own webhook is the only news about a dev payment

    def expire_checkout_session(self, session_id: str) -> dict:
        return {"id": session_id, "status": "expired"}

    def create_refund(self, *, payment_intent: str, amount: int, metadata: dict[str, str],
                      idempotency_key: str) -> dict:
        return {"id": "re_dev_" + random_token(100).lower(), "object": "refund", "status": "succeeded",
                "amount": amount, "payment_intent": payment_intent, "metadata": metadata,
                "created": int(datetime.now(UTC).timestamp())}


def mode() -> str:
    """"stripe", "dev" or "off" (see the module doc)."""
    cfg = current_app.config
    if cfg.get("STRIPE_SECRET_KEY"):
        return "stripe"
    if cfg.get("EVENTSITE_ENV") == "production":
        return "off"
    return "dev"


def dev_mode() -> bool:
    return mode() == "dev"


def gateway():
    """The provider's gateway (StripeGateway or DevGateway), or None when payments are off."""
    m = mode()
    if m == "off":
        return None
    if m == "dev":
        return DevGateway()
    cfg = current_app.config
    key = (cfg["STRIPE_SECRET_KEY"], cfg.get("STRIPE_API_BASE") or None)
    cache = current_app.extensions.setdefault("payments_gateways", {})
    gw = cache.get(key)
    if gw is None:
        from eventsite.payments.stripe_gateway import StripeGateway

        gw = cache[key] = StripeGateway(key[0], api_base=key[1])
    return gw


def webhook_secret() -> str | None:
    """The secret webhooks are verified with: STRIPE_WEBHOOK_SECRET, or in dev mode the dev secret."""
    configured = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if configured:
        return configured
    if dev_mode():
        return dev_webhook_secret()
    return None


def dev_webhook_secret() -> str:
    """Generated once and kept under instance/ (like the development SECRET_KEY)."""
    path = Path(current_app.instance_path) / DEV_SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = "whsec_dev_" + random_token(160).lower()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret
