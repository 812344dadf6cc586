from __future__ import annotations

import enum
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eventsite.accounts.models import Membership, Organization
from eventsite.core.db import TimestampMixin, utcnow
from eventsite.extensions import db


def _enum(cls):
    return db.Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class EventStatus(str, enum.Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class QuestionKind(str, enum.Enum):
    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    CHECKBOX = "checkbox"

    @property
    def label(self) -> str:
        return {
            "short_text": "Short text",
            "long_text": "Long text",
            "single_choice": "Single choice",
            "multiple_choice": "Multiple choice",
            "checkbox": "Checkbox (yes/no)",
        }[self.value]

    @property
    def has_options(self) -> bool:
        return self in (QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE)


class Event(TimestampMixin, db.Model):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_events_status_starts_at", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    summary: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")  # Markdown, rendered and sanitized on display
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64))  # IANA name, e.g. Europe/Berlin
    venue_name: Mapped[str] = mapped_column(String(200), default="")
    venue_address: Mapped[str] = mapped_column(String(500), default="")
    online_url: Mapped[str] = mapped_column(String(500), default="")
    # The organizer's terms and conditions (an http(s) link); when set, registering needs consent to them.
    terms_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    cover_image: Mapped[str | None] = mapped_column(String(100))  # file name under instance/uploads
    status: Mapped[EventStatus] = mapped_column(_enum(EventStatus), default=EventStatus.DRAFT)
    registration_opens_at: Mapped[datetime | None]
    registration_closes_at: Mapped[datetime | None]
    capacity: Mapped[int | None]  # optional cap over all ticket types
    sold: Mapped[int] = mapped_column(default=0)  # tickets claimed against `capacity`
    currency: Mapped[str] = mapped_column(String(3), default="USD")  # default for new ticket types
    # Payments: how long a paid order's seats are held while she pays (None: SEAT_HOLD_MINUTES), and
    # the refund policy: a full refund when she cancels at least this many days before the start
    # (0: until the start); None: cancelling refunds nothing.
    hold_minutes: Mapped[int | None]
    refund_until_days_before: Mapped[int | None]

    organization: Mapped[Organization] = relationship()
    ticket_types: Mapped[list[TicketType]] = relationship(
        back_populates="event", order_by="(TicketType.position, TicketType.id)", cascade="all, delete-orphan"
    )
    questions: Mapped[list[Question]] = relationship(
        back_populates="event", order_by="(Question.position, Question.id)", cascade="all, delete-orphan"
    )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def local_starts_at(self) -> datetime:
        return self.starts_at.astimezone(self.tz)

    @property
    def local_ends_at(self) -> datetime:
        return self.ends_at.astimezone(self.tz)

    @property
    def is_public(self) -> bool:
        return self.status in (EventStatus.PUBLISHED, EventStatus.CANCELLED)

    @property
    def is_past(self) -> bool:
        return self.ends_at <= utcnow()

    def registration_is_open(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        if self.status != EventStatus.PUBLISHED or now >= self.ends_at:
            return False
        if self.registration_opens_at and now < self.registration_opens_at:
            return False
        if self.registration_closes_at and now >= self.registration_closes_at:
            return False
        return True


class TicketType(TimestampMixin, db.Model):
    __tablename__ = "ticket_types"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        CheckConstraint("sold >= 0 AND sold <= capacity", name="sold_within_capacity"),
        CheckConstraint("max_per_order >= 1", name="max_per_order_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    price_cents: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    capacity: Mapped[int]
    sold: Mapped[int] = mapped_column(default=0)  # claimed atomically, never read-then-written
    sales_start: Mapped[datetime | None]
    sales_end: Mapped[datetime | None]
    hidden: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    max_per_order: Mapped[int] = mapped_column(default=10)

    event: Mapped[Event] = relationship(back_populates="ticket_types")

    @property
    def is_free(self) -> bool:
        return self.price_cents == 0

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.sold, 0)

    def on_sale(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        if self.hidden:
            return False
        if self.sales_start and now < self.sales_start:
            return False
        if self.sales_end and now >= self.sales_end:
            return False
        return True


class Question(TimestampMixin, db.Model):
    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(300))
    kind: Mapped[QuestionKind] = mapped_column(_enum(QuestionKind))
    required: Mapped[bool] = mapped_column(default=False)
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(default=0)
    show_at_door: Mapped[bool] = mapped_column(default=False)

    event: Mapped[Event] = relationship(back_populates="questions")


class CheckinAssignment(db.Model):
    """Which events a check-in staff member may work the door of."""

    __tablename__ = "checkin_assignments"

    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True, index=True)

    membership: Mapped[Membership] = relationship()
    event: Mapped[Event] = relationship()
