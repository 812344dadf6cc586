"""What the door screen and the API are told: the answer to a scan (`CheckinResult`) and to an undo
(`UndoResult`), as plain values that stay readable after the commit, with the ticket's door answers
and its present check-in. Built by `checkin.services`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select

from eventsite.checkin.models import Scan, ScanAction, ScanResult
from eventsite.core.db import utcnow
from eventsite.core.text import format_local
from eventsite.events.models import Event, Question
from eventsite.extensions import db
from eventsite.registration.answers import format_answer
from eventsite.registration.models import Order, OrderStatus, Ticket

# --- the answer -------------------------------------------------------------------------------

@dataclass
class CheckinResult:
    """What the door screen (and the API) shows after a scan. Plain values, safe after a commit."""

    result: ScanResult
    event_timezone: str
    scan_id: int | None = None
    replayed: bool = False
    ticket_id: int | None = None
    attendee_name: str = ""
    ticket_type: str = ""
    order_code: str = ""
    door_answers: list[tuple[str, str]] = field(default_factory=list)
    checked_in_at: datetime | None = None  # when it was (or already had been) checked in
    checked_in_door: str = ""
    checked_in_by: str = ""
    other_event: str | None = None  # wrong_event: the other event's title, when it is the same organization's
    reason: str = ""  # cancelled: cancelled / refunded / expired (never paid)

    @property
    def admitted(self) -> bool:
        return self.result is ScanResult.OK

    @property
    def checked_in_local(self) -> str:
        """19:04, or Tue 12 Mar, 19:04 when it was not today (in the event's time zone)."""
        if self.checked_in_at is None:
            return ""
        if format_local(self.checked_in_at, self.event_timezone, "%Y-%m-%d") == format_local(
                utcnow(), self.event_timezone, "%Y-%m-%d"):
            return format_local(self.checked_in_at, self.event_timezone, "%H:%M")
        return format_local(self.checked_in_at, self.event_timezone, "%a %d %b, %H:%M")

    @property
    def headline(self) -> str:
        r = self.result
        if r is ScanResult.OK:
            return f"Welcome, {self.attendee_name}!"
        return {
            ScanResult.ALREADY_CHECKED_IN: "Already checked in",
            ScanResult.CANCELLED: "Cancelled ticket",
            ScanResult.UNPAID: "Unpaid ticket",
            ScanResult.WRONG_EVENT: "Another event's ticket",
            ScanResult.UNKNOWN: "Unknown code",
        }[r]

    @property
    def detail(self) -> str:
        r = self.result
        who = f"{self.attendee_name} ({self.ticket_type})" if self.attendee_name else ""
        if r is ScanResult.OK:
            return self.ticket_type
        if r is ScanResult.ALREADY_CHECKED_IN:
            parts = [f"{who} was checked in at {self.checked_in_local}"]
            if self.checked_in_door:
                parts.append(f"at {self.checked_in_door}")
            if self.checked_in_by:
                parts.append(f"by {self.checked_in_by}")
            return " ".join(parts) + ". Do not admit twice."
        if r is ScanResult.CANCELLED:
            why = {"refunded": "was refunded", "expired": "was never paid and has expired"}.get(self.reason, "was cancelled")
            return f"The ticket of {who} {why}. Do not admit; ask the organizer."
        if r is ScanResult.UNPAID:
            return f"The order {self.order_code} of {who} is still waiting for payment. Do not admit; ask the organizer."
        if r is ScanResult.WRONG_EVENT:
            where = f": {self.other_event}" if self.other_event else ""
            return f"This ticket is for another event{where}. Do not admit."
        return "No ticket has this code. Scan it again, or search by name or email."

    def to_json(self) -> dict:
        ticket = None
        if self.ticket_id is not None:
            ticket = {
                "id": self.ticket_id,
                "attendee_name": self.attendee_name,
                "ticket_type": self.ticket_type,
                "order_code": self.order_code,
                "door_answers": [{"question": q, "answer": a} for q, a in self.door_answers],
            }
        return {
            "result": self.result.value,
            "admit": self.admitted,
            "headline": self.headline,
            "detail": self.detail,
            "replayed": self.replayed,
            "scan_id": self.scan_id,
            "ticket": ticket,
            "checked_in_at": _iso(self.checked_in_at),
            "checked_in_at_local": self.checked_in_local or None,
            "checked_in_door": self.checked_in_door or None,
            "checked_in_by": self.checked_in_by or None,
            "other_event": self.other_event,
        }


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt is not None else None


# Only the questions shown at the door, in the order of `Event.questions`, as plain rows: cheaper than
# loading every question of the event as objects on each admission. Built once per process.
_DOOR_QUESTIONS = (
    select(Question.id, Question.label, Question.kind)
    .where(Question.event_id == bindparam("event_id"), Question.show_at_door.is_(True))
    .order_by(Question.position, Question.id)
)


def door_answers(event: Event, order: Order) -> list[tuple[str, str]]:
    """The answers of `order` to the questions the organizer marked "show at the door", in order."""
    answers = order.answers or {}
    out = []
    for question_id, label, kind in db.session.execute(_DOOR_QUESTIONS, {"event_id": event.id}):
        text = format_answer(answers.get(str(question_id)), kind)
        if text:
            out.append((label, text))
    return out


def describe(event: Event, result: ScanResult, ticket: Ticket | None, **extra) -> CheckinResult:
    out = CheckinResult(result=result, event_timezone=event.timezone, **extra)
    if ticket is None or result is ScanResult.WRONG_EVENT or ticket.event_id != event.id:
        return out
    out.ticket_id = ticket.id
    out.attendee_name = ticket.attendee_name
    out.ticket_type = ticket.ticket_type.name
    out.order_code = ticket.order.code
    if result is ScanResult.OK:
        out.door_answers = door_answers(event, ticket.order)
    if result is ScanResult.ALREADY_CHECKED_IN and out.checked_in_at is None:
        out.checked_in_at = ticket.checked_in_at
        current = current_checkin(ticket)
        if current is not None:
            out.checked_in_door, out.checked_in_by = current.door, current.staff_name
    if result is ScanResult.CANCELLED:
        status = ticket.order.status
        out.reason = status.value if status in (OrderStatus.REFUNDED, OrderStatus.EXPIRED) else "cancelled"
    return out


def current_checkin(ticket: Ticket) -> Scan | None:
    """The log row of the ticket's present check-in (its latest `ok`, written at `checked_in_at`)."""
    if ticket.checked_in_at is None:
        return None
    scan = db.session.scalar(
        select(Scan)
        .where(Scan.ticket_id == ticket.id, Scan.result == ScanResult.OK.value,
               Scan.action == ScanAction.CHECK_IN.value)
        .order_by(Scan.id.desc()).limit(1)
    )
    return scan if scan is not None and scan.created_at == ticket.checked_in_at else None

# --- undo -------------------------------------------------------------------------------------

@dataclass
class UndoResult:
    undone: bool
    ticket_id: int
    attendee_name: str
    scan_id: int

    @property
    def message(self) -> str:
        if self.undone:
            return f"Check-in undone: {self.attendee_name} is no longer checked in."
        return f"{self.attendee_name} was not checked in (any more): nothing to undo."

    def to_json(self) -> dict:
        return {"undone": self.undone, "ticket_id": self.ticket_id, "attendee_name": self.attendee_name,
                "scan_id": self.scan_id, "message": self.message}
