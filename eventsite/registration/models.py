"""Orders and tickets.

An `Order` is one registration: who bought (buyer name and email), for which event, in what state,
with the answers to the event's questions. Each seat is a `Ticket` with its own attendee and its own
secret for the QR code at the door.

Three different identifiers, for three different readers:
- `Order.code`: 8 characters a person can read out on the phone or type into the organizer's search
  (40 bits; not a secret, it proves nothing).
- `Order.token`: the private key to the ticket page `/tickets/<token>` (130 bits from `secrets`).
- `Ticket.secret`: what the QR code carries and the door scans (130 bits from `secrets`).
None of them is derived from a database id, so nothing is found by counting.

Answers are a JSON column on the order, keyed by the question id as a string
(`{"12": "vegetarian", "13": ["Talks", "Dinner"], "14": true}`), not a child table: they are
always read and written together with their order (order detail, ticket page, CSV export is one
query per page), never searched by value, and keep what was answered even if the organizer later
edits or deletes a question. A child table would cost a join or a second query on every one of those
paths and buy nothing we use.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eventsite.core.db import utcnow
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db


def _enum(cls):
    # Stored as text (no native enum, no CHECK constraint): later issues add values without a migration.
    return db.Enum(cls, native_enum=False, length=30, values_callable=lambda e: [m.value for m in e])


class OrderStatus(str, enum.Enum):
    PENDING_PAYMENT = "pending_payment"  # paid order: seats held until `hold_expires_at`
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # for the payment issue: the hold ran out unpaid
    REFUNDED = "refunded"  # for the payment issue: money returned, tickets cancelled
    # The payment issue's refund states (tickets already cancelled, seats given back): the refund was
    # asked of Stripe and is not settled yet / Stripe refused it (the organizer sees why and retries).
    REFUND_PENDING = "refund_pending"
    REFUND_FAILED = "refund_failed"

    @property
    def is_live(self) -> bool:
        return self in LIVE_ORDER_STATUSES


# A live order holds seats and blocks a second registration with the same email for the event.
# Every other status (today's and later ones) is dead: a whitelist, so a status the payment issue adds
# (say `refund_failed`) can never make a dead order block her from registering again by accident.
LIVE_ORDER_STATUSES = (OrderStatus.PENDING_PAYMENT, OrderStatus.CONFIRMED)
_LIVE_SQL = "status IN ('pending_payment', 'confirmed')"


class OrderSource(str, enum.Enum):
    PUBLIC = "public"  # the registration form
    COMPLIMENTARY = "complimentary"  # added by the organizer: free, counted against capacity, not revenue
    API = "api"


class TicketStatus(str, enum.Enum):
    VALID = "valid"
    CANCELLED = "cancelled"


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        # One person, one registration: at most one live order per (event, email). Partial, so a
        # cancelled order does not stop her from registering again. Works on PostgreSQL and SQLite.
        Index(
            "uq_orders_live_email",
            "event_id",
            "buyer_email",
            unique=True,
            postgresql_where=text(_LIVE_SQL),
            sqlite_where=text(_LIVE_SQL),
        ),
        # "Send my ticket again", the organizer's search by email, and the list of an event's orders.
        Index("ix_orders_event_email", "event_id", "buyer_email"),
        Index("ix_orders_event_created", "event_id", "created_at"),
        # The payment issue's worker looks for holds that ran out.
        Index("ix_orders_status_hold", "status", "hold_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16), unique=True)  # human order code, e.g. "K7QX3M9P"
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the ticket page's secret (indexed by unique)
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_email: Mapped[str] = mapped_column(String(254))  # normalized, lower-cased
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus))
    source: Mapped[OrderSource] = mapped_column(_enum(OrderSource), default=OrderSource.PUBLIC)
    total_cents: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    answers: Mapped[dict] = mapped_column(JSON, default=dict)  # {str(question_id): str | list[str] | bool}
    hold_expires_at: Mapped[datetime | None]  # pending_payment only
    confirmation_count: Mapped[int] = mapped_column(default=0)  # resends so far (outbox key suffix)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # Her consent to the organizer's terms (`Event.terms_url`), recorded when she registered: when she
    # agreed, and the address she agreed to (the organizer may change the link later). Both empty when
    # the event had no terms, and for complimentary orders (the organizer's guests agreed to nothing).
    terms_accepted_at: Mapped[datetime | None]
    terms_url: Mapped[str | None] = mapped_column(String(500))

    event: Mapped[Event] = relationship()
    tickets: Mapped[list[Ticket]] = relationship(
        back_populates="order", order_by="Ticket.id", cascade="all, delete-orphan"
    )

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_ORDER_STATUSES

    @property
    def is_paid(self) -> bool:
        """Money is (or will be) involved: cancelling it is a refund, which is the payment issue's."""
        return self.total_cents > 0

    @property
    def valid_tickets(self) -> list[Ticket]:
        return [t for t in self.tickets if t.status == TicketStatus.VALID]

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Order {self.code} event={self.event_id} {self.status.value}>"


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        # The door's counters and the organizer's filters: an event's tickets by status.
        Index("ix_tickets_event_status", "event_id", "status"),
        # The organizer's list, newest first (`ORDER BY created_at DESC, id DESC LIMIT 50`): read in
        # index order, no sort of the event's tickets (tests/test_indexes.py).
        Index("ix_tickets_event_created", "event_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    # Denormalised from the order: the door looks a ticket up by secret and must say "wrong event"
    # without a join, and per-event lists and counts need no join either.
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    ticket_type_id: Mapped[int] = mapped_column(ForeignKey("ticket_types.id", ondelete="RESTRICT"), index=True)
    secret: Mapped[str] = mapped_column(String(64), unique=True)  # the QR payload (indexed by unique)
    attendee_name: Mapped[str] = mapped_column(String(200))
    attendee_email: Mapped[str | None] = mapped_column(String(254))
    price_cents: Mapped[int] = mapped_column(default=0)  # what this seat cost when bought (refunds, revenue)
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus), default=TicketStatus.VALID)
    # Set with `UPDATE tickets SET checked_in_at = :now WHERE id = :id AND checked_in_at IS NULL`.
    checked_in_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship(back_populates="tickets")
    event: Mapped[Event] = relationship()
    ticket_type: Mapped[TicketType] = relationship()

    @property
    def is_valid(self) -> bool:
        return self.status == TicketStatus.VALID

    def is_valid_for(self, event: Event) -> bool:
        """Admits to `event`: right event, not cancelled, its order confirmed (paid or free)."""
        return (
            self.event_id == event.id
            and self.status == TicketStatus.VALID
            and self.order.status == OrderStatus.CONFIRMED
        )

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Ticket {self.id} order={self.order_id} {self.status.value}>"


# --- waitlist (rules: registration/waitlist.py, waitlist_offers.py) ------------------------------

class WaitlistStatus(str, enum.Enum):
    WAITING = "waiting"  # in the queue
    OFFERED = "offered"  # seats reserved for her (counted in `sold`) until `offer_expires_at`
    CLAIMED = "claimed"  # she took the offer: `order_id` is her order
    EXPIRED = "expired"  # the offer ran out unclaimed; the seats went to the next person or back on sale
    REMOVED = "removed"  # she left the queue or declined the offer, or the event was cancelled


# A live entry is in the queue or holds an offer: at most one per (event, email). A whitelist, like
# LIVE_ORDER_STATUSES, so a status added later is dead unless it is listed here.
LIVE_WAITLIST_STATUSES = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)
_LIVE_WAITLIST_SQL = "status IN ('waiting', 'offered')"


class WaitlistEntry(db.Model):
    """One person waiting for `quantity` seats of a ticket type (or of any type: `ticket_type_id` None).

    The queue is FIFO by (created_at, id). `token` is the private key of her waitlist page
    `/waitlist/<token>` (status, claim, leave), sent only to her email address.
    """

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        Index(
            "uq_waitlist_entries_live_email",
            "event_id",
            "email",
            unique=True,
            postgresql_where=text(_LIVE_WAITLIST_SQL),
            sqlite_where=text(_LIVE_WAITLIST_SQL),
        ),
        # The queue of an event, walked in order when seats free up.
        Index("ix_waitlist_entries_queue", "event_id", "status", "created_at", "id"),
        # The worker: offers that ran out, and events with people waiting.
        Index("ix_waitlist_entries_status_expires", "status", "offer_expires_at"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    # What she waits for; None = any ticket type of the event. A ticket type can only be deleted while
    # nothing of it is sold, and then its queue goes with it.
    ticket_type_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_types.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))  # normalized, lower-cased
    quantity: Mapped[int] = mapped_column(default=1)
    status: Mapped[WaitlistStatus] = mapped_column(_enum(WaitlistStatus), default=WaitlistStatus.WAITING)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # 130 bits from `secrets`
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The type whose seats are reserved for her (the wanted one, or the one picked for "any").
    offered_ticket_type_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_types.id", ondelete="SET NULL"))
    offered_at: Mapped[datetime | None]
    offer_expires_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    ended_at: Mapped[datetime | None]  # expired or removed

    event: Mapped[Event] = relationship()
    ticket_type: Mapped[TicketType | None] = relationship(foreign_keys=[ticket_type_id])
    offered_ticket_type: Mapped[TicketType | None] = relationship(foreign_keys=[offered_ticket_type_id])
    order: Mapped[Order | None] = relationship()

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_WAITLIST_STATUSES

    def offer_is_open(self, now: datetime) -> bool:
        return (self.status == WaitlistStatus.OFFERED and self.offer_expires_at is not None
                and now < self.offer_expires_at)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<WaitlistEntry {self.id} event={self.event_id} {self.status.value}>"
