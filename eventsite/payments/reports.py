"""What the organizer reads about an event's money: revenue by currency and each paid order's state.

Read-only, a constant number of queries per page (revenue: two aggregates; the list: one query for
its rows, one for their refunds, one for their ticket counts).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from eventsite.core.text import format_money
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.payments.models import Payment, Refund, RefundStatus
from eventsite.registration.models import Order, OrderStatus, Ticket

PER_PAGE = 50

ORDER_STATE_LABELS = {
    "pending_payment": "Awaiting payment",
    "confirmed": "Confirmed",
    "cancelled": "Cancelled",
    "expired": "Expired unpaid",
    "refund_pending": "Refund pending",
    "refunded": "Refunded",
    "refund_failed": "Refund failed",
}


@dataclass(frozen=True)
class Revenue:
    currency: str
    paid_cents: int
    refunded_cents: int

    @property
    def net_cents(self) -> int:
        return self.paid_cents - self.refunded_cents

    def text(self, cents: int) -> str:
        return format_money(cents, self.currency)


def revenue_by_currency(event: Event) -> list[Revenue]:
    """Money received for the event, refunds made, and the difference, per currency."""
    paid = dict(db.session.execute(
        select(Payment.currency, func.sum(Payment.amount_cents))
        .join(Order, Order.id == Payment.order_id)
        .where(Order.event_id == event.id, Payment.paid_at.is_not(None))
        .group_by(Payment.currency)
    ).all())
    refunded = dict(db.session.execute(
        select(Refund.currency, func.sum(Refund.amount_cents))
        .join(Order, Order.id == Refund.order_id)
        .where(Order.event_id == event.id, Refund.status == RefundStatus.SUCCEEDED)
        .group_by(Refund.currency)
    ).all())
    return [Revenue(cur, int(paid.get(cur) or 0), int(refunded.get(cur) or 0))
            for cur in sorted(set(paid) | set(refunded))]


@dataclass
class PaymentRow:
    order: Order
    payment: Payment
    tickets: int
    refunds: list[Refund] = field(default_factory=list)

    @property
    def state_label(self) -> str:
        return ORDER_STATE_LABELS.get(self.order.status.value, self.order.status.value)

    @property
    def can_refund(self) -> bool:
        remaining = self.payment.amount_cents - self.payment.amount_refunded_cents
        return self.payment.is_paid and remaining > 0 and self.order.status in (
            OrderStatus.CONFIRMED, OrderStatus.CANCELLED)

    @property
    def can_retry(self) -> bool:
        return self.order.status == OrderStatus.REFUND_FAILED

    @property
    def last_failure(self) -> str | None:
        for refund in reversed(self.refunds):
            if refund.failure_message:
                return refund.failure_message
        return None


def payment_rows(event: Event, page: int = 1, per_page: int = PER_PAGE) -> tuple[list[PaymentRow], int]:
    """The event's paid orders (those that went to checkout), newest first; and how many in all."""
    base = select(Payment, Order).join(Order, Order.id == Payment.order_id).where(Order.event_id == event.id)
    total = int(db.session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    rows = db.session.execute(
        base.order_by(Order.created_at.desc(), Order.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    order_ids = [order.id for _, order in rows]
    refunds: dict[int, list[Refund]] = {}
    counts: dict[int, int] = {}
    if order_ids:
        for refund in db.session.scalars(select(Refund).where(Refund.order_id.in_(order_ids)).order_by(Refund.id)):
            refunds.setdefault(refund.order_id, []).append(refund)
        counts = dict(db.session.execute(
            select(Ticket.order_id, func.count()).where(Ticket.order_id.in_(order_ids)).group_by(Ticket.order_id)
        ).all())
    return [PaymentRow(order, payment, int(counts.get(order.id, 0)), refunds.get(order.id, []))
            for payment, order in rows], total


def payment_row(order: Order) -> PaymentRow | None:
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    if payment is None:
        return None
    refunds = list(db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id)))
    return PaymentRow(order, payment, len(order.tickets), refunds)
