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

What a scanner and the screen send is cleaned in `checkin.codes`; the answers (`CheckinResult`,
`UndoResult`) are built in `checkin.results`.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from eventsite.checkin.codes import (
    clean_door,
    clean_method,
    clean_request_id,
    normalize_code,
    printable,
)
from eventsite.checkin.models import Scan, ScanAction, ScanResult
from eventsite.checkin.results import CheckinResult, UndoResult, describe
from eventsite.core.db import utcnow
from eventsite.core.errors import NotFoundError
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import OrderStatus, Ticket, TicketStatus

_tickets = Ticket.__table__


def _staff_name(staff) -> str:
    return (getattr(staff, "display_name", "") or "")[:200] if staff is not None else ""


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
    return describe(event, result, ticket, **extra)


def _replay(event: Event, original: Scan) -> CheckinResult:
    """The answer a request already got, rebuilt from its log row: nothing is written."""
    result = ScanResult(original.result)
    ticket = _load_ticket(id=original.ticket_id) if original.ticket_id is not None else None
    extra: dict = {"scan_id": original.id, "replayed": True}
    if result is ScanResult.OK:
        extra.update(checked_in_at=original.created_at, checked_in_door=original.door,
                     checked_in_by=original.staff_name)
    return describe(event, result, ticket, **extra)


def _scan_for_request(event_id: int, request_id: str) -> Scan | None:
    return db.session.scalar(select(Scan).where(Scan.event_id == event_id, Scan.request_id == request_id)
                             .execution_options(populate_existing=True))


def _scan(event: Event, find_ticket, *, staff, door, request_id, method, now, raw) -> CheckinResult:
    door = clean_door(door)
    request_id = clean_request_id(request_id)
    method = clean_method(method)
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
