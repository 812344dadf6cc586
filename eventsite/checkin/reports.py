"""What the door and the organizer read: the counter, the search, arrivals over time, the scan log.

Read-only; nothing here writes. "Expected" means a valid ticket of a confirmed order (the ones the
door would admit); "in" means one of those with `checked_in_at` set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import selectinload

from eventsite.checkin.models import SCAN_RESULTS, Scan, ScanResult
from eventsite.core.db import utcnow
from eventsite.core.text import format_local
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus

SEARCH_LIMIT = 20
SEARCH_MIN = 2
SEARCH_MAX = 100
LOG_PAGE_SIZE = 100
BUCKET = timedelta(minutes=15)
MAX_BARS = 96
MIN_BARS = 8


def _admissible():
    return and_(Ticket.status == TicketStatus.VALID, Order.status == OrderStatus.CONFIRMED)


# --- the counter ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Counts:
    checked_in: int
    expected: int

    def to_json(self) -> dict:
        return {"checked_in": self.checked_in, "expected": self.expected}


def checkin_counts(event: Event) -> Counts:
    """How many are in, out of how many are expected (one query)."""
    expected, checked_in = db.session.execute(
        select(func.count(Ticket.id), func.count(Ticket.checked_in_at))
        .join(Order, Order.id == Ticket.order_id)
        .where(Ticket.event_id == event.id, _admissible())
    ).one()
    return Counts(int(checked_in or 0), int(expected or 0))


# --- search -----------------------------------------------------------------------------------

@dataclass
class Found:
    """One ticket in the door's search results."""

    id: int
    attendee_name: str
    attendee_email: str
    buyer_name: str
    ticket_type: str
    order_code: str
    state: str  # ready, checked_in, cancelled, unpaid
    checked_in_at: datetime | None
    timezone: str

    @property
    def can_check_in(self) -> bool:
        return self.state == "ready"

    @property
    def state_label(self) -> str:
        if self.state == "checked_in":
            return "Checked in at " + format_local(self.checked_in_at, self.timezone, "%H:%M")
        return {"ready": "Not checked in yet", "cancelled": "Cancelled", "unpaid": "Unpaid"}[self.state]

    def to_json(self) -> dict:
        return {"id": self.id, "attendee_name": self.attendee_name, "attendee_email": self.attendee_email,
                "buyer_name": self.buyer_name, "ticket_type": self.ticket_type, "order_code": self.order_code,
                "state": self.state, "state_label": self.state_label, "can_check_in": self.can_check_in}


@dataclass
class SearchResults:
    query: str
    tickets: list[Found] = field(default_factory=list)
    more: bool = False  # there were more than shown: type more of the name

    @property
    def too_short(self) -> bool:
        return len(self.query) < SEARCH_MIN

    def to_json(self) -> dict:
        return {"query": self.query, "too_short": self.too_short, "more": self.more,
                "results": [t.to_json() for t in self.tickets]}


def clean_query(query: object) -> str:
    if not isinstance(query, str):
        return ""
    text = "".join(c if c.isprintable() else " " for c in query[: SEARCH_MAX * 2])
    return " ".join(text.split())[:SEARCH_MAX]


def _state(ticket: Ticket, order: Order) -> str:
    if ticket.status != TicketStatus.VALID:
        return "cancelled"
    if order.status == OrderStatus.PENDING_PAYMENT:
        return "unpaid"
    if order.status != OrderStatus.CONFIRMED:
        return "cancelled"
    return "checked_in" if ticket.checked_in_at is not None else "ready"


def search_tickets(event: Event, query: object, *, limit: int = SEARCH_LIMIT) -> SearchResults:
    """The event's tickets whose attendee or buyer name or email contains every word of `query`, or
    whose order code is a word of it. Case-insensitive; at most `limit`, by name."""
    text = clean_query(query)
    out = SearchResults(text)
    if out.too_short:
        return out
    conditions = []
    for word in text.lower().split()[:6]:
        conditions.append(or_(
            func.lower(Ticket.attendee_name).contains(word, autoescape=True),
            func.lower(Ticket.attendee_email).contains(word, autoescape=True),
            func.lower(Order.buyer_name).contains(word, autoescape=True),
            Order.buyer_email.contains(word, autoescape=True),  # stored lower-cased
            Order.code == word.upper(),
        ))
    rows = db.session.execute(
        select(Ticket, Order, TicketType.name)
        .join(Order, Order.id == Ticket.order_id)
        .join(TicketType, TicketType.id == Ticket.ticket_type_id)
        .where(Ticket.event_id == event.id, *conditions)
        .order_by(func.lower(Ticket.attendee_name), Ticket.id)
        .limit(limit + 1)
    ).all()
    out.more = len(rows) > limit
    out.tickets = [
        Found(t.id, t.attendee_name, t.attendee_email or "", o.buyer_name, type_name, o.code, _state(t, o),
              t.checked_in_at, event.timezone)
        for t, o, type_name in rows[:limit]
    ]
    return out


# --- the organizer's report -------------------------------------------------------------------

@dataclass(frozen=True)
class Bar:
    starts_at: datetime  # UTC
    count: int
    label: str  # HH:MM in the event's zone
    x: float = 0
    y: float = 0
    height: float = 0


@dataclass
class Arrivals:
    """Arrivals (present check-ins) per bucket, laid out for a server-rendered SVG bar chart."""

    bars: list[Bar]
    bucket_minutes: int
    total: int
    peak: int
    width: int = 640
    height: int = 220
    left: int = 36
    bottom: int = 28
    top: int = 12

    slots: int = 1  # how many bars the x axis holds

    @property
    def bar_width(self) -> float:
        return (self.width - self.left - 8) / max(self.slots, 1)

    @property
    def plot_height(self) -> int:
        return self.height - self.bottom - self.top

    @property
    def y_ticks(self) -> list[tuple[int, float]]:
        if not self.peak:
            return []
        step = max(1, math.ceil(self.peak / 4))
        return [(v, self.top + self.plot_height * (1 - v / self.peak)) for v in range(0, self.peak + 1, step)]

    @property
    def x_labels(self) -> list[tuple[str, float]]:
        """A label at most every ~70 px, on whole hours where the buckets allow."""
        every = max(1, math.ceil(70 / max(self.bar_width, 1)))
        return [(bar.label, bar.x + self.bar_width / 2) for i, bar in enumerate(self.bars) if i % every == 0]


def arrivals(event: Event) -> Arrivals:
    times = list(db.session.scalars(
        select(Ticket.checked_in_at).join(Order, Order.id == Ticket.order_id)
        .where(Ticket.event_id == event.id, Ticket.checked_in_at.is_not(None), _admissible())
        .order_by(Ticket.checked_in_at)
    ))
    if not times:
        return Arrivals([], 15, 0, 0)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    bucket = BUCKET
    span = times[-1] - times[0]
    while span / bucket >= MAX_BARS:  # days of check-ins (a test run, a multi-day event): wider bars
        bucket *= 2

    def floor(t: datetime) -> datetime:
        return epoch + ((t - epoch) // bucket) * bucket

    counts: dict[datetime, int] = {}
    for t in times:
        counts[floor(t)] = counts.get(floor(t), 0) + 1
    start, end = floor(times[0]), floor(times[-1])
    n = int((end - start) / bucket) + 1
    if n < MIN_BARS:  # a few arrivals: show them in a window of two hours, not as one wall of colour
        start -= ((MIN_BARS - n) // 2) * bucket
        n = MIN_BARS
    peak = max(counts.values())
    chart = Arrivals([], int(bucket.total_seconds() // 60), len(times), peak, slots=n)
    fmt = "%H:%M" if span < timedelta(hours=20) else "%a %H:%M"
    for i in range(n):
        at = start + i * bucket
        c = counts.get(at, 0)
        h = chart.plot_height * c / peak
        chart.bars.append(Bar(at, c, format_local(at, event.timezone, fmt),
                              x=chart.left + i * chart.bar_width, y=chart.top + chart.plot_height - h, height=h))
    return chart


@dataclass(frozen=True)
class TypeRow:
    name: str
    registered: int
    checked_in: int

    @property
    def percent(self) -> int:
        return round(100 * self.checked_in / self.registered) if self.registered else 0


def by_ticket_type(event: Event) -> list[TypeRow]:
    """Checked in vs registered (valid tickets of confirmed orders), per ticket type, in their order."""
    rows = {
        type_id: (int(registered), int(checked_in))
        for type_id, registered, checked_in in db.session.execute(
            select(Ticket.ticket_type_id, func.count(Ticket.id), func.count(Ticket.checked_in_at))
            .join(Order, Order.id == Ticket.order_id)
            .where(Ticket.event_id == event.id, _admissible())
            .group_by(Ticket.ticket_type_id)
        )
    }
    return [TypeRow(tt.name, *rows.get(tt.id, (0, 0))) for tt in event.ticket_types]


@dataclass
class LogPage:
    scans: list[Scan]
    page: int
    has_next: bool
    result: str | None
    door: str | None
    doors: list[str]
    results: list[ScanResult]


LOG_RESULTS = (*SCAN_RESULTS, ScanResult.UNDONE, ScanResult.NOT_CHECKED_IN)


def scan_log(event: Event, *, result: object = None, door: object = None, page: object = 1) -> LogPage:
    """The event's scans, newest first, LOG_PAGE_SIZE a page, filtered by result and door.
    Unknown filter values are ignored (a hand-edited URL shows everything, not an error)."""
    result = result if result in {r.value for r in LOG_RESULTS} else None
    doors = sorted(d for d in db.session.scalars(select(Scan.door).where(Scan.event_id == event.id).distinct()) if d)
    door = door if isinstance(door, str) and door in doors else None
    try:
        page = min(max(int(page), 1), 10_000)
    except (TypeError, ValueError):
        page = 1
    query = select(Scan).where(Scan.event_id == event.id)
    if result:
        query = query.where(Scan.result == result)
    if door:
        query = query.where(Scan.door == door)
    scans = list(db.session.scalars(
        query.options(selectinload(Scan.ticket).selectinload(Ticket.ticket_type))
        .order_by(Scan.created_at.desc(), Scan.id.desc())
        .offset((page - 1) * LOG_PAGE_SIZE).limit(LOG_PAGE_SIZE + 1)
    ))
    return LogPage(scans[:LOG_PAGE_SIZE], page, len(scans) > LOG_PAGE_SIZE, result, door, doors, list(LOG_RESULTS))


@dataclass
class Report:
    counts: Counts
    arrivals: Arrivals
    types: list[TypeRow]
    log: LogPage
    generated_at: datetime


def checkin_report(event: Event, *, result: object = None, door: object = None, page: object = 1) -> Report:
    """Everything the organizer's check-in page shows."""
    return Report(checkin_counts(event), arrivals(event), by_ticket_type(event),
                  scan_log(event, result=result, door=door, page=page), utcnow())
