"""Check-in rules: scan a ticket at the door, check one in from a search, undo a check-in.

The screen's JSON endpoint, its no-JavaScript form, the API and the tests all call these. The actor
(`staff`) is an argument; nothing here reads the request. Functions flush; the caller commits once,
through `core.db.run_in_transaction` (SQLite's writer lock first, transient conflicts retried).

Admitting a ticket is one conditional UPDATE, so two doors scanning one ticket at the same moment
admit it once (PostgreSQL's row lock makes the second wait and re-check the condition; SQLite has one
writer at a time):

    UPDATE tickets SET checked_in_at = :now
     WHERE id = :id AND checked_in_at IS NULL AND status = 'valid'

and the row count says who won. Every scan, admitted or not, writes one `Scan` row (the log); the
`ok` row carries who and which door (see `checkin.models`).

Nothing a scanner sends makes this raise: empty, huge, binary, non-UTF-8 or otherwise impossible
codes are `unknown`. Only a malformed `door` or `request_id` (which the screen itself sends) is a
`ValidationError`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from eventsite.checkin.models import METHODS, Scan, ScanAction, ScanResult
from eventsite.core.db import utcnow
from eventsite.core.errors import NotFoundError, ValidationError
from eventsite.core.text import format_local
from eventsite.events.models import Event, Question
from eventsite.extensions import db
from eventsite.registration.answers import format_answer
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus
from eventsite.registration.qr import SECRET_RE

MAX_RAW_CODE = 1024  # longer than any ticket code by far: a scanner that sent this sent garbage
DOOR_MAX = 40
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")
_SEPARATORS = re.compile(r"[\s-]+")  # "ABCD EFGH-..." typed from paper

_tickets = Ticket.__table__


# --- input ------------------------------------------------------------------------------------

def normalize_code(raw: object) -> str | None:
    """The ticket secret in `raw` (stripped, spaces and dashes removed, upper-cased), or None when it
    cannot be one: not text, not UTF-8, empty, huge, or anything but ASCII letters and digits."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        if len(raw) > MAX_RAW_CODE:
            return None
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(raw, str) or len(raw) > MAX_RAW_CODE:
        return None
    code = _SEPARATORS.sub("", raw)
    if not code.isascii():  # before upper(): "ﬁ".upper() is "FI"
        return None
    code = code.upper()
    return code if SECRET_RE.fullmatch(code) else None


def printable(raw: object, limit: int = 64) -> str:
    """What was scanned, safe for the log and for any database: printable characters only (NUL,
    lone surrogates and other controls become "?"), cut to `limit`."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw[: limit * 4]).decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        return ""
    text = "".join(c if c.isprintable() else "?" for c in raw[: limit + 1].strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_door(door: object) -> str:
    """The door label ("Main entrance", "B"): printable, spaces collapsed, at most 40 characters."""
    if door is None:
        return ""
    if not isinstance(door, str):
        raise ValidationError({"door": "The door must be text, e.g. \"Main entrance\"."})
    text = " ".join("".join(c if c.isprintable() else " " for c in door).split())
    if len(text) > DOOR_MAX:
        raise ValidationError({"door": f"Use at most {DOOR_MAX} characters for the door's name."})
    return text


def clean_request_id(request_id: object) -> str | None:
    if request_id is None or request_id == "":
        return None
    if not isinstance(request_id, str) or not REQUEST_ID_RE.fullmatch(request_id):
        raise ValidationError({"request_id": "Use 8 to 64 letters, digits, dots, dashes, colons or underscores "
                                             "(a UUID is fine), new for each scan."})
    return request_id


def _clean_method(method: object) -> str:
    return method if isinstance(method, str) and method in METHODS else ""


def _staff_name(staff) -> str:
    return (getattr(staff, "display_name", "") or "")[:200] if staff is not None else ""


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


def _describe(event: Event, result: ScanResult, ticket: Ticket | None, **extra) -> CheckinResult:
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


# --- check in ---------------------------------------------------------------------------------

def _ticket_statement(column):
    return (
        select(Ticket).where(column == bindparam("value"))
        .options(joinedload(Ticket.order), joinedload(Ticket.ticket_type))
        .execution_options(populate_existing=True)
    )


# The statements of every scan, built once per process (building them cost more CPU than running them).
_TICKET_BY = {"secret": _ticket_statement(Ticket.secret), "id": _ticket_statement(Ticket.id)}
_CLAIM = (
    update(_tickets)
    .where(_tickets.c.id == bindparam("ticket_id"), _tickets.c.checked_in_at.is_(None),
           _tickets.c.status == TicketStatus.VALID.value)
    .values(checked_in_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)
_INSERT_SCAN = {
    (dialect, replayable): (
        insert(Scan.__table__).on_conflict_do_nothing(index_elements=["event_id", "request_id"])
        if replayable else insert(Scan.__table__)
    ).returning(Scan.__table__.c.id)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
    for replayable in (True, False)
}


def _load_ticket(**where) -> Ticket | None:
    ((column, value),) = where.items()
    return db.session.scalar(_TICKET_BY[column], {"value": value})


def _other_event_title(event: Event, ticket: Ticket) -> str | None:
    other = db.session.get(Event, ticket.event_id)
    return other.title if other is not None and other.organization_id == event.organization_id else None


def _judge(event: Event, ticket: Ticket | None) -> ScanResult | None:
    """The answer that needs no write, or None when the ticket may be admitted."""
    if ticket is None:
        return ScanResult.UNKNOWN
    if ticket.event_id != event.id:
        return ScanResult.WRONG_EVENT
    if ticket.status != TicketStatus.VALID:
        return ScanResult.CANCELLED
    if ticket.order.status == OrderStatus.PENDING_PAYMENT:
        return ScanResult.UNPAID
    if not ticket.is_valid_for(event):  # any other status than confirmed: cancelled, refunded, expired...
        return ScanResult.CANCELLED
    if ticket.checked_in_at is not None:
        return ScanResult.ALREADY_CHECKED_IN
    return None


def _claim(ticket: Ticket, now: datetime) -> bool:
    """The conditional UPDATE: True if this call checked the ticket in."""
    won = db.session.execute(_CLAIM, {"ticket_id": ticket.id, "now": now}).rowcount == 1
    if won:
        set_committed_value(ticket, "checked_in_at", now)
    return won


def _release(ticket: Ticket, now: datetime) -> None:
    """Take back our own `_claim` of this transaction (the request turned out to be a replay)."""
    db.session.execute(
        update(_tickets).where(_tickets.c.id == ticket.id, _tickets.c.checked_in_at == now)
        .values(checked_in_at=None).execution_options(synchronize_session=False)
    )
    set_committed_value(ticket, "checked_in_at", None)


def _insert_scan(values: dict) -> int | None:
    """Append one log row; its id, or None when its request id is already taken (a replay).

    `INSERT ... ON CONFLICT (event_id, request_id) DO NOTHING RETURNING id`, on PostgreSQL and on
    SQLite alike: if the same request is in flight in another transaction, PostgreSQL waits for it
    to commit, then does nothing. One statement instead of a pre-check and a savepoint."""
    dialect = "postgresql" if db.session.get_bind().dialect.name == "postgresql" else "sqlite"
    statement = _INSERT_SCAN[dialect, values.get("request_id") is not None]
    return db.session.execute(statement, values).scalar_one_or_none()


def _scan_once(event: Event, ticket: Ticket | None, *, staff, door: str, request_id: str | None,
               method: str, now: datetime, raw: object) -> CheckinResult:
    result = _judge(event, ticket)
    claimed = False
    if result is None:
        if _claim(ticket, now):
            result, claimed = ScanResult.OK, True
        else:  # another door got there first, or it was cancelled meanwhile: read what happened
            ticket = _load_ticket(id=ticket.id)
            result = _judge(event, ticket) or ScanResult.ALREADY_CHECKED_IN
    if result is ScanResult.UNKNOWN:
        logged_code = printable(raw)
    elif result is ScanResult.WRONG_EVENT:
        logged_code = ticket.secret[:6] + "…"  # enough to recognise it, not enough to use it
    else:
        logged_code = ""
    staff_name = _staff_name(staff)
    scan_id = _insert_scan({
        "event_id": event.id,
        "ticket_id": ticket.id if ticket is not None and result is not ScanResult.WRONG_EVENT else None,
        "staff_id": getattr(staff, "id", None), "staff_name": staff_name, "door": door,
        "action": ScanAction.CHECK_IN.value, "method": method, "result": result.value, "code": logged_code,
        "request_id": request_id, "created_at": now,
    })
    if scan_id is None:  # this request was answered before (or is being answered right now)
        if claimed:
            _release(ticket, now)
        original = _scan_for_request(event.id, request_id)
        if original is None:  # pragma: no cover - the conflicting row vanished: the log is append-only
            raise RuntimeError("a scan's request id conflicted with a row that does not exist")
        return _replay(event, original)
    extra: dict = {"scan_id": scan_id}
    if result is ScanResult.OK:
        extra.update(checked_in_at=now, checked_in_door=door, checked_in_by=staff_name)
    if result is ScanResult.WRONG_EVENT:
        extra["other_event"] = _other_event_title(event, ticket)
    return _describe(event, result, ticket, **extra)


def _replay(event: Event, original: Scan) -> CheckinResult:
    """The answer a request already got, rebuilt from its log row: nothing is written."""
    result = ScanResult(original.result)
    ticket = _load_ticket(id=original.ticket_id) if original.ticket_id is not None else None
    extra: dict = {"scan_id": original.id, "replayed": True}
    if result is ScanResult.OK:
        extra.update(checked_in_at=original.created_at, checked_in_door=original.door,
                     checked_in_by=original.staff_name)
    return _describe(event, result, ticket, **extra)


def _scan_for_request(event_id: int, request_id: str) -> Scan | None:
    return db.session.scalar(select(Scan).where(Scan.event_id == event_id, Scan.request_id == request_id)
                             .execution_options(populate_existing=True))


def _scan(event: Event, find_ticket, *, staff, door, request_id, method, now, raw) -> CheckinResult:
    door = clean_door(door)
    request_id = clean_request_id(request_id)
    method = _clean_method(method)
    return _scan_once(event, find_ticket(), staff=staff, door=door, request_id=request_id, method=method,
                      now=now or utcnow(), raw=raw)


def check_in(ticket_secret: object, *, event: Event, staff, door: str | None = None,
             request_id: str | None = None, method: str = "", now: datetime | None = None) -> CheckinResult:
    """Scan `ticket_secret` at a door of `event`: admit it once, or say why not.

    `result` is ok, already_checked_in, cancelled, unpaid, wrong_event or unknown. `staff` is the
    user at the door (None for none), `door` her door's label, `request_id` the client's id of this
    request: the same id again answers the original answer and records nothing. Every other call
    writes one `Scan` row. Flushes; the caller commits.
    """
    code = normalize_code(ticket_secret)
    return _scan(event, lambda: _load_ticket(secret=code) if code else None, staff=staff, door=door,
                 request_id=request_id, method=method, now=now, raw=ticket_secret)


def check_in_ticket(ticket_id: object, *, event: Event, staff, door: str | None = None,
                    request_id: str | None = None, method: str = "search", now: datetime | None = None) -> CheckinResult:
    """Check in the ticket the door found by search (by its id); the same rules and answers as
    `check_in`. An id that is not one of this event's tickets is `unknown` (ids reveal nothing)."""
    def find() -> Ticket | None:
        if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or not 0 < ticket_id < 2**31:
            return None
        ticket = _load_ticket(id=ticket_id)
        return ticket if ticket is not None and ticket.event_id == event.id else None

    return _scan(event, find, staff=staff, door=door, request_id=request_id, method=method, now=now,
                 raw=f"ticket #{ticket_id}" if isinstance(ticket_id, int) else ticket_id)


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


def undo_check_in(ticket: Ticket, *, staff, door: str | None = None, of_scan: Scan | None = None,
                  now: datetime | None = None) -> UndoResult:
    """Take back a check-in (a mistaken scan). Logged as an `undo` row, whatever happens.

    With `of_scan` (the ok row the screen's undo button belongs to) only that check-in is undone:
    if the ticket was meanwhile undone and checked in again at another door, that newer check-in
    stands. Idempotent: undoing twice undoes once."""
    door = clean_door(door)
    now = now or utcnow()
    stmt = update(_tickets).where(_tickets.c.id == ticket.id, _tickets.c.checked_in_at.is_not(None))
    if of_scan is not None:
        stmt = stmt.where(_tickets.c.checked_in_at == of_scan.created_at)
    undone = db.session.execute(
        stmt.values(checked_in_at=None).execution_options(synchronize_session=False)
    ).rowcount == 1
    scan = Scan(
        event_id=ticket.event_id, ticket_id=ticket.id, staff_id=getattr(staff, "id", None),
        staff_name=_staff_name(staff), door=door, action=ScanAction.UNDO.value, method="",
        result=(ScanResult.UNDONE if undone else ScanResult.NOT_CHECKED_IN).value, created_at=now,
    )
    db.session.add(scan)
    db.session.flush()
    db.session.expire(ticket, ["checked_in_at"])
    return UndoResult(undone, ticket.id, ticket.attendee_name, scan.id)


def undo_scan(event: Event, scan_id: object, *, staff, door: str | None = None, now: datetime | None = None) -> UndoResult:
    """Undo the check-in that the `ok` scan `scan_id` of `event` made (the screen's undo button)."""
    scan = None
    if isinstance(scan_id, int) and not isinstance(scan_id, bool) and 0 < scan_id < 2**31:
        scan = db.session.get(Scan, scan_id)
    if (scan is None or scan.event_id != event.id or scan.ticket_id is None
            or scan.action != ScanAction.CHECK_IN.value or scan.result != ScanResult.OK.value):
        raise NotFoundError("There is no such check-in to undo.")
    ticket = _load_ticket(id=scan.ticket_id)
    return undo_check_in(ticket, staff=staff, door=door, of_scan=scan, now=now)
