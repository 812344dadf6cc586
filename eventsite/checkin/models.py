"""The scan log: one row for every scan at the door, every check-in by search, every undo.

Append-only: a row is written once, in the same transaction as the check-in it records, and never
changed or deleted by the application (it is what the organizer reads when someone says "but I was
let in"). The ticket's own `checked_in_at` says whether it is in now; the log says how it got there.

Who and where: the `ok` row of a check-in carries the staff member and the door, and its
`created_at` is exactly the ticket's `checked_in_at` (both written from one `now`), so "already
checked in at 19:04 at Door B by Sam" is read from the log without columns on `tickets`.

`request_id` is the client's id of one scan request (a UUID the screen makes per scan). It is unique
per event: a request sent again (a retry after a timeout, a double tap, a page re-posted) meets its
row (`INSERT ... ON CONFLICT DO NOTHING`) and gets the original answer instead of being a second
scan. NULLs do not collide.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eventsite.accounts.models import User
from eventsite.core.db import utcnow
from eventsite.extensions import db
from eventsite.registration.models import Ticket


class ScanResult(str, enum.Enum):
    """What a scan answered. The first six are the product's contract (screen, API, log)."""

    OK = "ok"
    ALREADY_CHECKED_IN = "already_checked_in"
    CANCELLED = "cancelled"
    UNPAID = "unpaid"
    WRONG_EVENT = "wrong_event"
    UNKNOWN = "unknown"
    # Only in the log, for undo rows:
    UNDONE = "undone"
    NOT_CHECKED_IN = "not_checked_in"  # an undo that found nothing to undo

    @property
    def admitted(self) -> bool:
        return self is ScanResult.OK

    @property
    def label(self) -> str:
        return RESULT_LABELS[self.value]


SCAN_RESULTS = (
    ScanResult.OK, ScanResult.ALREADY_CHECKED_IN, ScanResult.CANCELLED, ScanResult.UNPAID,
    ScanResult.WRONG_EVENT, ScanResult.UNKNOWN,
)

RESULT_LABELS = {
    "ok": "Checked in",
    "already_checked_in": "Already checked in",
    "cancelled": "Cancelled ticket",
    "unpaid": "Unpaid",
    "wrong_event": "Another event's ticket",
    "unknown": "Unknown code",
    "undone": "Check-in undone",
    "not_checked_in": "Undo: was not checked in",
}


class ScanAction(str, enum.Enum):
    CHECK_IN = "check_in"
    UNDO = "undo"


# How the code reached us (the client says; only for the log and the organizer's curiosity).
METHODS = ("camera", "keyboard", "search", "api", "form")


class Scan(db.Model):
    __tablename__ = "checkin_scans"
    __table_args__ = (
        UniqueConstraint("event_id", "request_id"),
        # The organizer's log (newest first, per event) and the arrivals chart.
        Index("ix_checkin_scans_event_created", "event_id", "created_at"),
        # "Already checked in: when, where, by whom": the ticket's latest ok row.
        Index("ix_checkin_scans_ticket_result", "ticket_id", "result"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    staff_name: Mapped[str] = mapped_column(String(200), default="")  # as it was then: the log stays readable
    door: Mapped[str] = mapped_column(String(40), default="")
    action: Mapped[str] = mapped_column(String(20), default=ScanAction.CHECK_IN.value)
    method: Mapped[str] = mapped_column(String(20), default="")
    result: Mapped[str] = mapped_column(String(30))
    code: Mapped[str] = mapped_column(String(64), default="")  # what was scanned (printable, cut to 64), for the log
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket | None] = relationship()
    staff: Mapped[User | None] = relationship()

    @property
    def result_enum(self) -> ScanResult:
        return ScanResult(self.result)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Scan {self.id} event={self.event_id} ticket={self.ticket_id} {self.action} {self.result}>"
