"""What the organizer reads about an event's registrations: the list (search, filters, pages), the
counts by ticket type, and the API's pages. The CSV export is in `export`, the
registrations-per-day chart in `chart`; both read rows through `conditions` and `ROW_COLUMNS` here.

Read-only queries; plain arguments in (a mapping of query parameters is just a mapping), no request
state. Every page is ONE query for its rows plus a constant few (a count, the per-type totals), never
one per row: rows are narrow column selects over `tickets JOIN orders`, so nothing is lazy-loaded
while the page renders. The ticket type's name comes from the event's already-loaded types.

Status of a ticket, as the organizer sees it (the filter's values):
- `confirmed`: a valid ticket of a confirmed order (free, complimentary or paid);
- `pending`: a valid ticket of an order waiting for payment (its seat is held);
- `cancelled`: the ticket was cancelled, or its order is dead (cancelled, expired, refunded).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql.util import find_tables

from eventsite.core.errors import ValidationError
from eventsite.core.text import format_money
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.registration.models import (
    LIVE_ORDER_STATUSES,
    Order,
    OrderSource,
    OrderStatus,
    Ticket,
    TicketStatus,
)

PER_PAGE = 50
SEARCH_MAX = 200
MAX_PAGE = 1_000_000
API_PER_PAGE = 100
API_MAX_PER_PAGE = 500

STATUSES = {"confirmed": "Confirmed", "pending": "Awaiting payment", "cancelled": "Cancelled"}
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_ORDER_CODE = re.compile(r"^[A-Za-z0-9]{1,16}$")


# --- parsing the query string ------------------------------------------------------------------

@dataclass(frozen=True)
class RegistrationFilters:
    """What the organizer searches for. Empty values mean "any"."""

    search: str = ""
    ticket_type_id: int | None = None
    status: str | None = None  # a key of STATUSES
    checked_in: bool | None = None

    @property
    def active(self) -> bool:
        return bool(self.search or self.ticket_type_id or self.status or self.checked_in is not None)

    def as_args(self) -> dict[str, str]:
        """The query parameters that select the same rows (for page links and the CSV link)."""
        args: dict[str, str] = {}
        if self.search:
            args["q"] = self.search
        if self.ticket_type_id:
            args["ticket_type"] = str(self.ticket_type_id)
        if self.status:
            args["status"] = self.status
        if self.checked_in is not None:
            args["checked_in"] = "yes" if self.checked_in else "no"
        return args


def _positive_int(raw: Any, name: str, errors: dict[str, str], *, default: int, maximum: int, label: str) -> int:
    if raw is None or str(raw).strip() == "":
        return default
    text = str(raw).strip()
    if not re.fullmatch(r"\d{1,9}", text) or not (1 <= int(text) <= maximum):
        errors[name] = f"{label} must be a whole number from 1 to {maximum}."
        return default
    return int(text)


def parse_filters(event: Event, args: Mapping[str, Any]) -> tuple[RegistrationFilters, int]:
    """(filters, page) from the list's query parameters `q`, `ticket_type`, `status`, `checked_in`,
    `page`. Raises ValidationError naming each bad parameter."""
    errors: dict[str, str] = {}
    search = str(args.get("q") or "").strip()
    if len(search) > SEARCH_MAX:
        errors["q"] = f"Search for at most {SEARCH_MAX} characters."
        search = ""
    elif _CONTROL.search(search):
        errors["q"] = "Search for letters, digits and punctuation only."
        search = ""

    ticket_type_id = None
    raw_type = str(args.get("ticket_type") or "").strip()
    if raw_type:
        ids = {tt.id for tt in event.ticket_types}
        # ASCII digits, bounded: str.isdigit() also accepts "²" (int() refuses) and 10,000 digits
        # (int() refuses more than 4,300), both 500s found by tests/fuzz.
        if not re.fullmatch(r"[0-9]{1,18}", raw_type) or int(raw_type) not in ids:
            errors["ticket_type"] = "Choose one of this event's ticket types."
        else:
            ticket_type_id = int(raw_type)

    status = str(args.get("status") or "").strip() or None
    if status is not None and status not in STATUSES:
        errors["status"] = "Choose confirmed, pending or cancelled."
        status = None

    checked_in = None
    raw_checked = str(args.get("checked_in") or "").strip().lower()
    if raw_checked in ("yes", "no"):
        checked_in = raw_checked == "yes"
    elif raw_checked:
        errors["checked_in"] = "Choose yes or no."

    page = _positive_int(args.get("page"), "page", errors, default=1, maximum=MAX_PAGE, label="The page")
    if errors:
        raise ValidationError(errors)
    return RegistrationFilters(search, ticket_type_id, status, checked_in), page


def parse_api_page(args: Mapping[str, Any]) -> tuple[int, int]:
    """(page, per_page) of the API's lists; ValidationError names a bad parameter."""
    errors: dict[str, str] = {}
    page = _positive_int(args.get("page"), "page", errors, default=1, maximum=MAX_PAGE, label="page")
    per_page = _positive_int(args.get("per_page"), "per_page", errors, default=API_PER_PAGE,
                             maximum=API_MAX_PER_PAGE, label="per_page")
    if errors:
        raise ValidationError(errors)
    return page, per_page


def order_by_code(event: Event, code: str) -> Order | None:
    """The event's order with this code (case-insensitive), with its tickets and their types."""
    from sqlalchemy.orm import selectinload

    if not isinstance(code, str) or not _ORDER_CODE.match(code):
        return None
    return db.session.scalar(
        select(Order)
        .where(Order.event_id == event.id, Order.code == code.upper())
        .options(selectinload(Order.tickets).selectinload(Ticket.ticket_type))
    )


# --- the list ----------------------------------------------------------------------------------

def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


CONFIRMED = and_(Ticket.status == TicketStatus.VALID, Order.status == OrderStatus.CONFIRMED)
PENDING = and_(Ticket.status == TicketStatus.VALID, Order.status == OrderStatus.PENDING_PAYMENT)
CANCELLED = or_(Ticket.status == TicketStatus.CANCELLED, Order.status.not_in(LIVE_ORDER_STATUSES))


def conditions(event: Event, filters: RegistrationFilters) -> list:
    where = [Ticket.event_id == event.id]
    if filters.search:
        pattern = _like(filters.search)
        where.append(or_(
            Ticket.attendee_name.ilike(pattern, escape="\\"),
            Ticket.attendee_email.ilike(pattern, escape="\\"),
            Order.buyer_name.ilike(pattern, escape="\\"),
            Order.buyer_email.ilike(pattern, escape="\\"),
            Order.code.ilike(pattern, escape="\\"),
        ))
    if filters.ticket_type_id:
        where.append(Ticket.ticket_type_id == filters.ticket_type_id)
    if filters.status:
        where.append({"confirmed": CONFIRMED, "pending": PENDING, "cancelled": CANCELLED}[filters.status])
    if filters.checked_in is True:
        where.append(Ticket.checked_in_at.is_not(None))
    elif filters.checked_in is False:
        where.append(Ticket.checked_in_at.is_(None))
    return where


def display_status(ticket_status: TicketStatus, order_status: OrderStatus) -> str:
    """A key of STATUSES, or the dead order's own status for the ones STATUSES does not name."""
    if ticket_status == TicketStatus.CANCELLED or order_status not in LIVE_ORDER_STATUSES:
        return "cancelled"
    return "pending" if order_status == OrderStatus.PENDING_PAYMENT else "confirmed"


@dataclass(frozen=True)
class RegistrationRow:
    ticket_id: int
    attendee_name: str
    attendee_email: str | None
    ticket_type_id: int
    ticket_type: str
    ticket_status: TicketStatus
    checked_in_at: datetime | None
    registered_at: datetime
    price_cents: int
    order_id: int
    order_code: str
    order_status: OrderStatus
    order_source: OrderSource
    buyer_name: str
    buyer_email: str
    currency: str
    answers: dict | None = None  # the order's answers (the CSV's rows only)
    secret: str | None = None  # the QR code's secret (the API's rows only, never the CSV's)
    terms_accepted_at: datetime | None = None  # consent to the event's terms (the CSV's rows only)
    terms_url: str | None = None

    @property
    def status(self) -> str:
        return display_status(self.ticket_status, self.order_status)

    @property
    def status_label(self) -> str:
        return STATUSES[self.status]

    @property
    def email(self) -> str:
        """The attendee's own address, else the buyer's (who receives the tickets)."""
        return self.attendee_email or self.buyer_email


ROW_COLUMNS = (
    Ticket.id, Ticket.attendee_name, Ticket.attendee_email, Ticket.ticket_type_id, Ticket.status,
    Ticket.checked_in_at, Ticket.created_at, Ticket.price_cents, Order.id, Order.code, Order.status,
    Order.source, Order.buyer_name, Order.buyer_email, Order.currency,
)


def row_from(values, type_names: Mapping[int, str], answers: dict | None = None, secret: str | None = None,
         terms: tuple[datetime | None, str | None] = (None, None)) -> RegistrationRow:
    (tid, name, email, type_id, t_status, checked, created, price, oid, code, o_status, source,
     buyer_name, buyer_email, currency) = values[:15]
    return RegistrationRow(tid, name, email, type_id, type_names.get(type_id, "?"), t_status, checked, created,
                           price, oid, code, o_status, source, buyer_name, buyer_email, currency, answers, secret,
                           *terms)


@dataclass(frozen=True)
class RegistrationPage:
    rows: list[RegistrationRow]
    total: int  # rows matching the filters, over all pages
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def first_number(self) -> int:
        return (self.page - 1) * self.per_page + 1

    @property
    def last_number(self) -> int:
        return self.first_number + len(self.rows) - 1


def registrations_page(event: Event, filters: RegistrationFilters, page: int = 1,
                       per_page: int = PER_PAGE) -> RegistrationPage:
    """One page of tickets, newest first, in three queries: the count, the page's ticket ids, their rows.

    The count and the ids read `tickets` alone (through its (event_id, created_at) index) unless a
    condition reads the order (a search, the status filter); only the page's ids are joined to their
    orders. Joining first made PostgreSQL join every skipped row of a deep page (8.9 ms for page 90
    of 100 on 5,000 tickets) and count through a hash join of every order; with the ids in a
    subquery it scanned all tickets to join them back (`python -m bench.list_cpu`)."""
    where = conditions(event, filters)
    newest_first = (Ticket.created_at.desc(), Ticket.id.desc())
    tickets = select(Ticket.id).select_from(Ticket)
    if _reads_orders(where):
        tickets = tickets.join(Order, Order.id == Ticket.order_id)
    tickets = tickets.where(*where)
    total = db.session.scalar(tickets.with_only_columns(func.count()))
    ids = db.session.scalars(tickets.order_by(*newest_first).limit(per_page).offset((page - 1) * per_page)).all()
    rows = (select(*ROW_COLUMNS).join(Order, Order.id == Ticket.order_id).where(Ticket.id.in_(ids))
            .order_by(*newest_first))
    result = db.session.execute(rows).all()
    names = {tt.id: tt.name for tt in event.ticket_types}
    return RegistrationPage([row_from(r, names) for r in result], total or 0, page, per_page)


def _reads_orders(where: list) -> bool:
    """Whether these conditions name a column of `orders` (a search, the status filter)."""
    return any(Order.__table__ in find_tables(c, check_columns=True) for c in where)


# --- counts at the top -------------------------------------------------------------------------

@dataclass
class TypeCounts:
    ticket_type: TicketType | None  # None for the total line
    name: str
    sold: int  # seats claimed (confirmed and held for payment), from the capacity counter
    capacity: int | None
    confirmed: int = 0
    pending: int = 0
    complimentary: int = 0
    checked_in: int = 0
    revenue: dict[str, int] = field(default_factory=dict)  # currency -> cents, confirmed paid tickets only

    @property
    def revenue_text(self) -> str:
        return ", ".join(format_money(c, cur) for cur, c in sorted(self.revenue.items()) if c) or "—"


def counts_by_type(event: Event) -> tuple[list[TypeCounts], TypeCounts]:
    """Per ticket type and in all: sold / capacity, confirmed, pending, complimentary, checked in,
    revenue (complimentary tickets cost 0, so they never count as revenue). One aggregate query,
    grouped by the raw statuses and folded here: PostgreSQL spent more time on five CASE sums per
    ticket than on the join itself (8.4 ms for 5,000 tickets)."""
    rows = db.session.execute(
        select(
            Ticket.ticket_type_id, Ticket.status, Order.status, Order.source, Order.currency,
            Ticket.checked_in_at.is_not(None), func.count(), func.sum(Ticket.price_cents),
        )
        .join(Order, Order.id == Ticket.order_id)
        .where(Ticket.event_id == event.id)
        .group_by(Ticket.ticket_type_id, Ticket.status, Order.status, Order.source, Order.currency,
                  Ticket.checked_in_at.is_not(None))
    ).all()
    per_type = {tt.id: TypeCounts(tt, tt.name, tt.sold, tt.capacity) for tt in event.ticket_types}
    for type_id, ticket_status, order_status, source, currency, checked_in, n, cents in rows:
        counts = per_type.get(type_id)
        if counts is None or ticket_status != TicketStatus.VALID:
            continue  # a ticket type is never deleted while it has tickets; cancelled tickets count nowhere
        if order_status == OrderStatus.CONFIRMED:
            counts.confirmed += n
            if source == OrderSource.COMPLIMENTARY:
                counts.complimentary += n
            if cents:
                counts.revenue[currency] = counts.revenue.get(currency, 0) + int(cents)
        elif order_status == OrderStatus.PENDING_PAYMENT:
            counts.pending += n
        if checked_in:
            counts.checked_in += n
    lines = list(per_type.values())
    capacity = event.capacity if event.capacity is not None else sum(c.capacity or 0 for c in lines)
    total = TypeCounts(None, "All tickets", event.sold, capacity)
    for c in lines:
        total.confirmed += c.confirmed
        total.pending += c.pending
        total.complimentary += c.complimentary
        total.checked_in += c.checked_in
        for cur, cents in c.revenue.items():
            total.revenue[cur] = total.revenue.get(cur, 0) + cents
    return lines, total


# --- the API's pages ---------------------------------------------------------------------------

def tickets_page(event: Event, page: int, per_page: int) -> tuple[list[RegistrationRow], int]:
    """(rows, total) of the event's tickets, oldest first by id. Tickets are never deleted (a
    cancellation changes their status), so page n always holds the same tickets: a client paging
    while people register sees the new ones on the last pages, never one twice."""
    where = [Ticket.event_id == event.id]
    total = db.session.scalar(select(func.count()).select_from(Ticket).where(*where)) or 0
    result = db.session.execute(
        select(*ROW_COLUMNS, Ticket.secret).join(Order, Order.id == Ticket.order_id).where(*where)
        .order_by(Ticket.id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    names = {tt.id: tt.name for tt in event.ticket_types}
    return [row_from(r, names, secret=r[15]) for r in result], total


@dataclass(frozen=True)
class OrderRow:
    order: Order
    tickets_count: int
    valid_tickets_count: int


def orders_page(event: Event, page: int, per_page: int) -> tuple[list[OrderRow], int]:
    """(rows, total) of the event's orders, oldest first by id, with their ticket counts (correlated
    subqueries on the indexed tickets.order_id: still one query for the page)."""
    total = db.session.scalar(select(func.count()).select_from(Order).where(Order.event_id == event.id)) or 0
    all_tickets = (select(func.count()).select_from(Ticket).where(Ticket.order_id == Order.id)
                   .correlate(Order).scalar_subquery())
    valid_tickets = (select(func.count()).select_from(Ticket)
                     .where(Ticket.order_id == Order.id, Ticket.status == TicketStatus.VALID)
                     .correlate(Order).scalar_subquery())
    result = db.session.execute(
        select(Order, all_tickets, valid_tickets).where(Order.event_id == event.id)
        .order_by(Order.id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return [OrderRow(o, int(n or 0), int(v or 0)) for o, n, v in result], total
