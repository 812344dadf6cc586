"""Payments: one Checkout Session per paid order, its refunds, and the Stripe events we received.

- `Payment`: the money side of a paid order. One per order (unique `order_id`), created by
  `start_checkout` with the Checkout Session's id and URL; `paid_at` is set exactly once, by
  `fulfill_checkout`, which is what makes fulfilment idempotent. `token` is the key of her payment
  page (`/payments/order/<token>`, Stripe's cancel URL), so the ticket page's token never leaves us.
- `Refund`: money going back, for one order: asked by the organizer, by the attendee within the
  refund policy, automatically (paid after the hold ran out and the seats were gone; event
  cancelled), or noticed in a `charge.refunded` event (refunded in Stripe's dashboard). Each attempt
  at Stripe carries `idempotency_key`; a failed refund keeps Stripe's message and can be retried.
- `StripeEvent`: every webhook event we accepted, by Stripe's event id under a unique constraint,
  written before the event is handled and in the same transaction: a repeat is a no-op.

Money is integer cents (the currency's smallest unit, as Stripe counts it) plus an ISO currency code.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eventsite.core.db import utcnow
from eventsite.extensions import db
from eventsite.registration.models import Order


def _enum(cls):
    return db.Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class PaymentStatus(str, enum.Enum):
    OPEN = "open"  # a Checkout Session exists, nothing paid yet
    PROCESSING = "processing"  # checkout completed with a delayed payment method, money not there yet
    PAID = "paid"
    FAILED = "failed"  # the delayed payment failed
    EXPIRED = "expired"  # the session expired, or the hold ran out, unpaid

    @property
    def label(self) -> str:
        return {"open": "Awaiting payment", "processing": "Payment processing", "paid": "Paid",
                "failed": "Payment failed", "expired": "Not paid (expired)"}[self.value]


class RefundStatus(str, enum.Enum):
    PENDING = "pending"  # asked for (or being asked) at Stripe, not settled
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # Stripe said no, or could not be reached: see failure_message; can be retried


class RefundReason(str, enum.Enum):
    ORGANIZER = "organizer"  # the organizer's refund button
    ATTENDEE = "attendee"  # she cancelled within the refund policy
    LATE_PAYMENT = "late_payment"  # paid after her hold ran out and the seats were gone
    EVENT_CANCELLED = "event_cancelled"
    DASHBOARD = "dashboard"  # refunded outside eventsite (Stripe's dashboard): seen in charge.refunded

    @property
    def label(self) -> str:
        return {"organizer": "By the organizer", "attendee": "Cancelled by the attendee",
                "late_payment": "Paid after the seats were gone", "event_cancelled": "Event cancelled",
                "dashboard": "In the Stripe dashboard"}[self.value]


class Payment(db.Model):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # her payment page, 130 random bits
    provider: Mapped[str] = mapped_column(String(10))  # "stripe", or "dev" (the dev payment page)
    status: Mapped[PaymentStatus] = mapped_column(_enum(PaymentStatus), default=PaymentStatus.OPEN)
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))  # upper case, like the order's
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    checkout_expires_at: Mapped[datetime | None]
    checkout_attempts: Mapped[int] = mapped_column(default=0)  # sessions asked for (idempotency key suffix)
    checkout_error: Mapped[str | None] = mapped_column(Text)  # why the last attempt could not start
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    amount_refunded_cents: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship()
    refunds: Mapped[list[Refund]] = relationship(back_populates="payment", order_by="Refund.id")

    @property
    def is_paid(self) -> bool:
        return self.paid_at is not None

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Payment {self.id} order={self.order_id} {self.status.value}>"


class Refund(db.Model):
    __tablename__ = "refunds"
    __table_args__ = (
        # The worker's "refunds to send" and the organizer's list of failed ones.
        Index("ix_refunds_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"), index=True)
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[RefundReason] = mapped_column(_enum(RefundReason))
    status: Mapped[RefundStatus] = mapped_column(_enum(RefundStatus), default=RefundStatus.PENDING)
    # The key of the current attempt at Stripe: the same attempt repeated (a retried transaction, a
    # lost answer) reuses it, so Stripe refunds once; a new attempt after a refusal gets a new one.
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]  # the worker sends pending refunds whose time has come
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    failure_message: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    payment: Mapped[Payment] = relationship(back_populates="refunds")
    order: Mapped[Order] = relationship()

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Refund {self.id} order={self.order_id} {self.status.value}>"


class StripeEvent(db.Model):
    """A webhook event, stored by Stripe's id before it is handled (unique: a repeat is a no-op)."""

    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    outcome: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
