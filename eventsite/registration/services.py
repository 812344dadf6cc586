"""Registration rules: register, resend, cancel, rename. Views, the API, the worker and tests call these.

Conventions (ARCHITECTURE.md): plain arguments in, the actor as an argument, `ValidationError` with
the form's field names on bad input, other refusals as `DomainError`s with a code, `flush()` only:
the caller commits once, preferably through `core.db.run_in_transaction`, which on SQLite takes the
writer lock first and retries transient conflicts on both databases.

Capacity is never read-then-written. A registration claims seats with one conditional UPDATE per
ticket type and one on the event, in ticket-type-id order and then the event (the same order
cancellations release in, so two transactions never wait on each other in a circle):

    UPDATE ticket_types SET sold = sold + :n WHERE id = :id AND sold + :n <= capacity
    UPDATE events SET sold = sold + :n WHERE id = :id AND (capacity IS NULL OR sold + :n <= capacity)

and checks the row count. `events.sold` is kept even when the event has no capacity, so that an
organizer who sets one later is checked against the true number (events.services relies on it).
On PostgreSQL the row lock makes a concurrent claim wait and re-check the condition; on SQLite there
is one writer at a time. The CHECK constraint `sold <= capacity` on ticket types is the last guard.

Form field names used in `ValidationError.errors` (the lead wires the form with these):
`name`, `email`, `quantity` (no ticket chosen, or too many in all), `quantity-<ticket type id>`,
`attendee-<i>-name` / `attendee-<i>-email` (i = 1 for the second ticket, 2 for the third, ...),
`question-<question id>`, and `__all__`.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.util import identity_key

from eventsite.core.db import utcnow
from eventsite.core.errors import ValidationError
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.security import random_token
from eventsite.events import services as event_services
from eventsite.events.models import Event, EventStatus, Question, QuestionKind, TicketType
from eventsite.extensions import db
from eventsite.registration import emails
from eventsite.registration.errors import (
    AlreadyRegisteredError,
    NotCancellableError,
    RegistrationClosedError,
    SoldOutError,
    TicketNotEditableError,
)
from eventsite.registration.models import (
    LIVE_ORDER_STATUSES,
    Order,
    OrderSource,
    OrderStatus,
    Ticket,
    TicketStatus,
)

NAME_MAX = 200
EMAIL_MAX = 254
SHORT_TEXT_MAX = 300
LONG_TEXT_MAX = 4000
MAX_TICKETS_PER_ORDER = 100
DEFAULT_HOLD_MINUTES = 30
SECRET_BITS = 130  # 26 characters of the 32-letter alphabet
TOKEN_BITS = 130
CODE_BITS = 40  # 8 characters: a human reference, not a secret

# Control characters (C0, DEL, C1), line and paragraph separators, and the bidirectional overrides
# and isolates that would let a name display reversed in the organizer's list.
_BAD_NAME_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
# Long answers may have line breaks and tabs, nothing else of the kind.
_BAD_TEXT_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"", "0", "false", "no", "off", "n"}

# Callbacks fn(ticket_type, n) run after seats of `ticket_type` are given back by a cancellation,
# inside the same transaction (the waitlist offers them). Not run for a cancelled event.
on_seats_released: list[Callable[[TicketType, int], None]] = []


# --- small validators (each records into `errors` and returns the clean value) ------------------

def clean_name(value: Any, field: str, errors: dict[str, str], *, missing: str = "Enter your name.") -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(field, "Enter a name as text.")
        return ""
    value = re.sub(r" {2,}", " ", value).strip()
    if not value:
        errors.setdefault(field, missing)
    elif len(value) > NAME_MAX:
        errors.setdefault(field, f"Use at most {NAME_MAX} characters.")
    elif _BAD_NAME_CHARS.search(value):
        errors.setdefault(field, "Use letters, spaces and punctuation only: no line breaks or control characters.")
    return value


def clean_email(value: Any, field: str, errors: dict[str, str], *, required: bool = True) -> str | None:
    """email-validator's syntax check (no DNS lookup), normalized and lower-cased for comparisons."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(field, "Enter an email address as text.")
        return None
    value = value.strip()
    if not value:
        if required:
            errors.setdefault(field, "Enter your email address.")
        return None
    if len(value) > EMAIL_MAX:
        errors.setdefault(field, f"An email address has at most {EMAIL_MAX} characters.")
        return None
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as e:
        errors.setdefault(field, f"Enter a valid email address, like name@example.org. ({e})")
        return None
    return result.normalized.lower()


def _int_or_error(value: Any) -> int | None:
    if value is None:
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        s = value.strip()
        if s == "":
            return 0
        if re.fullmatch(r"[+-]?\d{1,6}", s):
            return int(s)
    return None


def _clean_quantities(
    event: Event, quantities: Mapping[Any, Any] | None, errors: dict[str, str], *, complimentary: bool, now: datetime
) -> list[tuple[TicketType, int]]:
    """[(ticket type, n)] in the event's display order, n >= 1."""
    types = {tt.id: tt for tt in event.ticket_types}
    wanted: Counter[int] = Counter()
    if quantities is not None and not isinstance(quantities, Mapping):
        errors.setdefault("quantity", "Choose how many tickets of each type you want.")
        return []
    for key, raw in (quantities or {}).items():
        tid = _int_or_error(key)
        if tid is None or isinstance(key, bool) or tid <= 0:
            errors.setdefault("quantity", "One of the ticket types is not part of this event.")
            continue
        field = f"quantity-{tid}"
        n = _int_or_error(raw)
        if n is None:
            errors.setdefault(field, "Choose a number of tickets.")
            continue
        if n < 0:
            errors.setdefault(field, "The number of tickets cannot be negative.")
            continue
        if n and tid not in types:
            errors.setdefault(field, "This ticket type is not part of this event.")
            continue
        wanted[tid] += n

    lines: list[tuple[TicketType, int]] = []
    for tt in event.ticket_types:
        n = wanted.get(tt.id, 0)
        if n <= 0:
            continue
        field = f"quantity-{tt.id}"
        if not complimentary:
            if tt.hidden:
                errors.setdefault(field, "This ticket type is not available.")
                continue
            if not tt.on_sale(now):
                if tt.sales_start and now < tt.sales_start:
                    errors.setdefault(field, f"Sales of “{tt.name}” have not started yet.")
                else:
                    errors.setdefault(field, f"Sales of “{tt.name}” have ended.")
                continue
            if n > tt.max_per_order:
                errors.setdefault(field, f"You can get at most {tt.max_per_order} of “{tt.name}” in one order.")
                continue
        lines.append((tt, n))

    total = sum(n for _, n in lines)
    quantity_errors = any(k == "quantity" or k.startswith("quantity-") for k in errors)
    if total == 0 and not quantity_errors:
        errors.setdefault("quantity", "Choose at least one ticket.")
    elif total > MAX_TICKETS_PER_ORDER:
        errors.setdefault("quantity", f"At most {MAX_TICKETS_PER_ORDER} tickets fit in one order.")
    if not complimentary:
        currencies = {tt.currency for tt, _ in lines if tt.price_cents > 0}
        if len(currencies) > 1:
            errors.setdefault("quantity", "Tickets priced in different currencies must be ordered separately.")
    return lines


def _clean_attendees(attendees: Any, needed: int, errors: dict[str, str]) -> list[tuple[str, str | None]]:
    """(name, email or None) for each extra ticket (the first ticket is the buyer's)."""
    if attendees is None:
        attendees = []
    if isinstance(attendees, (str, bytes, Mapping)) or not isinstance(attendees, Iterable):
        errors.setdefault("attendee-1-name", "Give a name for each extra ticket.")
        return []
    attendees = list(attendees)
    out: list[tuple[str, str | None]] = []
    for i in range(needed):
        item = attendees[i] if i < len(attendees) else {}
        if not isinstance(item, Mapping):
            item = {}
        base = f"attendee-{i + 1}"
        name = clean_name(item.get("name"), f"{base}-name", errors,
                          missing=f"Enter the name of the person for ticket {i + 2}.")
        email = clean_email(item.get("email"), f"{base}-email", errors, required=False)
        out.append((name, email))
    for j in range(needed, len(attendees)):
        item = attendees[j]
        if isinstance(item, Mapping) and any(str(item.get(k) or "").strip() for k in ("name", "email")):
            errors.setdefault(
                f"attendee-{j + 1}-name",
                f"You chose {needed + 1} ticket{'s' if needed else ''}: remove this name or choose more tickets.",
            )
    return out


def _truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    return None


def _clean_answer(q: Question, raw: Any, field: str, errors: dict[str, str], *, enforce_required: bool):
    """The stored form of one answer, or None when there is nothing to store."""
    required = q.required and enforce_required
    kind = q.kind
    if kind == QuestionKind.CHECKBOX:
        value = _truthy(raw)
        if value is None:
            errors.setdefault(field, "Tick the box or leave it empty.")
            return None
        if required and not value:
            errors.setdefault(field, "Tick this box to continue.")
            return None
        return value

    if kind == QuestionKind.MULTIPLE_CHOICE:
        if raw is None or raw == "":
            raw = []
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, (list, tuple)) or not all(isinstance(v, str) for v in raw):
            errors.setdefault(field, "Choose among the options.")
            return None
        chosen = {v.strip() for v in raw if v.strip()}
        if not chosen <= set(q.options):
            errors.setdefault(field, "Choose among the options.")
            return None
        if not chosen:
            if required:
                errors.setdefault(field, "Choose at least one option.")
            return None
        return [o for o in q.options if o in chosen]  # in the organizer's order, no duplicates

    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        errors.setdefault(field, "Answer with text.")
        return None
    if kind == QuestionKind.SINGLE_CHOICE:
        value = raw.strip()
        if not value:
            if required:
                errors.setdefault(field, "Choose one of the options.")
            return None
        if value not in q.options:
            errors.setdefault(field, "Choose one of the options.")
            return None
        return value

    long = kind == QuestionKind.LONG_TEXT
    value = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    limit = LONG_TEXT_MAX if long else SHORT_TEXT_MAX
    if not value:
        if required:
            errors.setdefault(field, "Please answer this question.")
        return None
    if len(value) > limit:
        errors.setdefault(field, f"Use at most {limit} characters.")
        return None
    if _BAD_TEXT_CHARS.search(value) or (not long and ("\n" in value or "\t" in value)):
        errors.setdefault(field, "Remove the line breaks or control characters." if not long
                          else "Remove the control characters.")
        return None
    return value


def _clean_answers(event: Event, answers: Mapping[Any, Any] | None, errors: dict[str, str], *, enforce_required: bool) -> dict[str, Any]:
    given: dict[int, Any] = {}
    if answers is not None and not isinstance(answers, Mapping):
        errors.setdefault("__all__", "The answers could not be read.")
        return {}
    for key, value in (answers or {}).items():
        qid = _int_or_error(key)
        if qid and not isinstance(key, bool):
            given[qid] = value  # answers to questions of other events are simply ignored
    out: dict[str, Any] = {}
    for q in event.questions:
        value = _clean_answer(q, given.get(q.id), f"question-{q.id}", errors, enforce_required=enforce_required)
        if value is not None:
            out[str(q.id)] = value
    return out


def _check_open(event: Event, now: datetime, source: OrderSource) -> None:
    if event.status == EventStatus.CANCELLED:
        raise RegistrationClosedError("This event has been cancelled.")
    if source == OrderSource.COMPLIMENTARY:
        return  # the organizer may add guests to a draft, before opening or after closing
    if not event.registration_is_open(now):
        from eventsite.events.display import registration_note

        raise RegistrationClosedError(registration_note(event, now) or "Registration is not open.")


# --- capacity ----------------------------------------------------------------------------------

_tt = TicketType.__table__
_ev = Event.__table__
_orders = Order.__table__
_tickets = Ticket.__table__


def _claim_ticket_type(tt: TicketType, n: int) -> bool:
    result = db.session.execute(
        update(_tt)
        .where(_tt.c.id == tt.id, _tt.c.sold + n <= _tt.c.capacity)
        .values(sold=_tt.c.sold + n, updated_at=_tt.c.updated_at)  # a sale is not an edit of the type
    )
    db.session.expire(tt, ["sold"])
    return result.rowcount == 1


def _claim_event(event: Event, n: int) -> bool:
    result = db.session.execute(
        update(_ev)
        .where(_ev.c.id == event.id, (_ev.c.capacity.is_(None)) | (_ev.c.sold + n <= _ev.c.capacity))
        .values(sold=_ev.c.sold + n, updated_at=_ev.c.updated_at)
    )
    db.session.expire(event, ["sold"])
    return result.rowcount == 1


def _give_back(event_id: int, per_type: Mapping[int, int]) -> None:
    """Seats back to sale: ticket types in id order, then the event (the order claims take)."""
    for tid in sorted(per_type):
        db.session.execute(
            update(_tt).where(_tt.c.id == tid).values(sold=_tt.c.sold - per_type[tid], updated_at=_tt.c.updated_at)
        )
    total = sum(per_type.values())
    if total:
        db.session.execute(
            update(_ev).where(_ev.c.id == event_id).values(sold=_ev.c.sold - total, updated_at=_ev.c.updated_at)
        )
    for tid in per_type:
        _expire_sold(TicketType, tid)
    _expire_sold(Event, event_id)


def _sold_out_message(tt: TicketType, n: int, left: int) -> str:
    if left <= 0:
        return f"Sorry, “{tt.name}” is sold out."
    return f"Only {left} of “{tt.name}” {'is' if left == 1 else 'are'} left; choose {left} or fewer."


def _claim_all(event: Event, lines: list[tuple[TicketType, int]]) -> None:
    """Claim every line or none: on failure what was claimed is given back in the same transaction."""
    claimed: dict[int, int] = {}
    for tt, n in sorted(lines, key=lambda line: line[0].id):
        if not _claim_ticket_type(tt, n):
            _give_back_types(claimed)
            left = max(tt.capacity - tt.sold, 0)
            raise SoldOutError(_sold_out_message(tt, n, left), field=f"quantity-{tt.id}", ticket_type_id=tt.id)
        claimed[tt.id] = n
    total = sum(claimed.values())
    if not _claim_event(event, total):
        _give_back_types(claimed)
        left = max((event.capacity or 0) - event.sold, 0)
        first = lines[0][0]
        message = ("Sorry, this event is sold out." if left <= 0
                   else f"Only {left} place{'s' if left != 1 else ''} left at this event; choose {left} or fewer tickets.")
        raise SoldOutError(message, field=f"quantity-{first.id}" if len(lines) == 1 else "quantity",
                           ticket_type_id=first.id if len(lines) == 1 else None)


def _give_back_types(claimed: Mapping[int, int]) -> None:
    for tid in sorted(claimed):
        db.session.execute(
            update(_tt).where(_tt.c.id == tid).values(sold=_tt.c.sold - claimed[tid], updated_at=_tt.c.updated_at)
        )
    for tid in claimed:
        _expire_sold(TicketType, tid)


def _expire_sold(model, id_: int) -> None:
    """The count changed in the database: a loaded object reads it again on next access."""
    obj = db.session.identity_map.get(identity_key(model, id_))
    if obj is not None:
        db.session.expire(obj, ["sold"])


# --- lookups -----------------------------------------------------------------------------------

def live_order_for(event: Event, email: str) -> Order | None:
    """The live order of `email` (already normalized) for `event`, if any."""
    return db.session.scalar(
        select(Order).where(
            Order.event_id == event.id, Order.buyer_email == email, Order.status.in_(LIVE_ORDER_STATUSES)
        )
    )


def order_by_token(token: str) -> Order | None:
    """The order behind a ticket page link; None for anything that is not a live-or-dead order's token."""
    if not isinstance(token, str) or not (16 <= len(token) <= 64):
        return None
    return db.session.scalar(
        select(Order).where(Order.token == token).options(selectinload(Order.tickets).selectinload(Ticket.ticket_type))
    )


def ticket_by_secret(secret: str) -> Ticket | None:
    if not isinstance(secret, str) or not (16 <= len(secret) <= 64):
        return None
    return db.session.scalar(select(Ticket).where(Ticket.secret == secret.strip().upper()))


def ticket_slots(event: Event, quantities: Mapping[Any, Any]) -> list[TicketType]:
    """Which ticket type each seat of an order is, in the order attendees are given: slot 0 is the
    buyer's own ticket, slot i (i >= 1) belongs to `attendee-<i>-*`. For labelling the form."""
    def wanted(tt: TicketType) -> int:
        raw = quantities.get(tt.id, quantities.get(str(tt.id), 0))
        n = _int_or_error(raw)
        return min(max(n or 0, 0), MAX_TICKETS_PER_ORDER)

    return [tt for tt in event.ticket_types for _ in range(wanted(tt))]


def _new_code() -> str:
    for _ in range(20):
        code = random_token(CODE_BITS)
        if db.session.scalar(select(Order.id).where(Order.code == code)) is None:
            return code
    raise RuntimeError("could not find a free order code")  # pragma: no cover - 2^40 codes


def _hold_minutes() -> int:
    return int(current_app.config.get("SEAT_HOLD_MINUTES") or DEFAULT_HOLD_MINUTES)


# --- register ----------------------------------------------------------------------------------

def register_attendees(
    event: Event,
    *,
    buyer_name: str,
    buyer_email: str,
    quantities: Mapping[Any, Any],
    attendees: Iterable[Mapping[str, Any]] | None = None,
    answers: Mapping[Any, Any] | None = None,
    now: datetime | None = None,
    source: OrderSource | str = OrderSource.PUBLIC,
) -> Order:
    """Register `buyer_name` <`buyer_email`> for `event`: validate, claim seats, write the order.

    `quantities` maps ticket type ids (int or the form's string) to how many; the first ticket is the
    buyer's, `attendees` gives `{"name", "email"}` for each further ticket (see `ticket_slots`).
    `answers` maps question ids to a string (text, single choice), a list of strings (multiple
    choice) or a boolean / form value (checkbox).

    A free order is confirmed at once and its confirmation email is queued in the same transaction.
    A paid order is created `pending_payment` with its seats held until `hold_expires_at`
    (SEAT_HOLD_MINUTES, default 30); the payment issue takes it from there. Complimentary orders
    (source="complimentary", the organizer's) are free whatever the price, may use hidden ticket
    types and ignore the sale and registration windows and required questions, but count against
    capacity like any other.

    Raises `RegistrationClosedError`, `ValidationError` (field names in the module doc),
    `AlreadyRegisteredError`, `SoldOutError`. When it raises, nothing of it remains in the session's
    transaction (seats claimed before a failure are given back in the same transaction).
    """
    now = now or utcnow()
    source = OrderSource(source)
    complimentary = source == OrderSource.COMPLIMENTARY
    _check_open(event, now, source)

    errors: dict[str, str] = {}
    name = clean_name(buyer_name, "name", errors)
    email = clean_email(buyer_email, "email", errors)
    lines = _clean_quantities(event, quantities, errors, complimentary=complimentary, now=now)
    slots = [tt for tt, n in lines for _ in range(n)]
    quantity_ok = not any(k == "quantity" or k.startswith("quantity-") for k in errors)
    people = _clean_attendees(attendees, max(len(slots) - 1, 0) if quantity_ok else 0, errors) if quantity_ok else []
    clean_answers = _clean_answers(event, answers, errors, enforce_required=not complimentary)
    if errors:
        raise ValidationError(errors)
    assert email is not None

    if live_order_for(event, email) is not None:
        raise AlreadyRegisteredError()

    prices = {tt.id: (0 if complimentary else tt.price_cents) for tt, _ in lines}
    total_cents = sum(prices[tt.id] * n for tt, n in lines)
    paid_types = [tt for tt, _ in lines if prices[tt.id] > 0]
    paid = total_cents > 0
    order = Order(
        event=event,
        code=_new_code(),
        token=random_token(TOKEN_BITS),
        buyer_name=name,
        buyer_email=email,
        status=OrderStatus.PENDING_PAYMENT if paid else OrderStatus.CONFIRMED,
        source=source,
        total_cents=total_cents,
        currency=paid_types[0].currency if paid_types else event.currency,
        answers=clean_answers,
        hold_expires_at=now + timedelta(minutes=_hold_minutes()) if paid else None,
        created_at=now,
        confirmed_at=None if paid else now,
        confirmation_count=0,
    )
    for tt, (holder_name, holder_email) in zip(slots, [(name, email)] + people):
        Ticket(
            order=order,
            event_id=event.id,
            ticket_type=tt,
            secret=random_token(SECRET_BITS),
            attendee_name=holder_name,
            attendee_email=holder_email,
            price_cents=prices[tt.id],
            status=TicketStatus.VALID,
            created_at=now,
        )

    # The confirmation (QR codes, calendar file) is rendered before the seats are claimed, so the
    # row locks of the claim are held only for a few inserts and the commit. When the event already
    # looks sold out (a stale read, used for nothing else) rendering waits for a successful claim.
    confirmed = order.status == OrderStatus.CONFIRMED
    looks_available = all(tt.capacity - tt.sold >= n for tt, n in lines) and (
        event.capacity is None or event.capacity - event.sold >= len(slots))
    rendered = emails.render_confirmation(order) if confirmed and looks_available else None

    _claim_all(event, lines)

    # The partial unique index settles the race two identical requests can run on PostgreSQL (both
    # passed the check above): the second insert waits for the first to commit, then fails here.
    try:
        with db.session.begin_nested():
            db.session.add(order)  # and its tickets
            db.session.flush()
    except IntegrityError:
        _give_back(event.id, {tt.id: n for tt, n in lines})
        if live_order_for(event, email) is not None:
            raise AlreadyRegisteredError() from None
        raise

    if confirmed:
        emails.queue_confirmation(order, key=confirmation_key(order), rendered=rendered)
    return order


def confirmation_key(order: Order) -> str:
    """The outbox key of an order's first confirmation (the payment issue queues it after payment)."""
    return f"confirmation:{order.id}"


# --- send my ticket again ----------------------------------------------------------------------

def _bump_confirmation_count(order: Order) -> int:
    n = db.session.execute(
        update(_orders).where(_orders.c.id == order.id)
        .values(confirmation_count=_orders.c.confirmation_count + 1)
        .returning(_orders.c.confirmation_count)
    ).scalar_one()
    db.session.expire(order, ["confirmation_count"])
    return n


def resend_confirmation(order: Order, *, actor=None) -> OutboxMessage:
    """Queue the confirmation of a confirmed order again (the organizer's "resend")."""
    if order.status != OrderStatus.CONFIRMED or not order.valid_tickets:
        raise TicketNotEditableError("Only a confirmed order with valid tickets can be sent again.")
    n = _bump_confirmation_count(order)
    return emails.queue_confirmation(order, key=f"confirmation-resend:{order.id}:{n}")


def resend_tickets(event: Event, email: str) -> None:
    """"Send my ticket again": re-queue the confirmation if `email` has a confirmed order for `event`.

    Returns nothing and raises nothing for an unknown, cancelled or malformed address, so the caller
    shows the same message either way and the page reveals nothing about who is registered.
    Rate limiting is the view's job.
    """
    errors: dict[str, str] = {}
    normalized = clean_email(email, "email", errors)
    if normalized is None:
        return None
    order = live_order_for(event, normalized)
    if order is None or order.status != OrderStatus.CONFIRMED or not order.valid_tickets:
        return None
    n = _bump_confirmation_count(order)
    emails.queue_confirmation(order, key=f"confirmation-resend:{order.id}:{n}")
    return None


# --- cancel ------------------------------------------------------------------------------------

def _lock_order(order_id: int) -> Order:
    """The order, row-locked on PostgreSQL (SELECT ... FOR UPDATE) and freshly read with its tickets,
    so cancellations of the same order run one after the other."""
    order = db.session.scalar(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    )
    if order is None:
        raise TicketNotEditableError("This order no longer exists.")
    db.session.scalars(
        select(Ticket).where(Ticket.order_id == order_id).execution_options(populate_existing=True)
    ).all()
    return order


def _run_release_hooks(per_type: Mapping[int, int]) -> None:
    for tid in sorted(per_type):
        tt = db.session.get(TicketType, tid)
        for callback in list(on_seats_released):
            callback(tt, per_type[tid])


def void_order(order: Order, *, status: OrderStatus = OrderStatus.CANCELLED, now: datetime | None = None,
               release_hooks: bool = True) -> dict[int, int]:
    """Move a live order to a dead `status`, cancel its valid tickets and give their seats back.

    The building block for cancellation here and for the payment issue (hold expired: EXPIRED;
    refunded: REFUNDED). No email, no paid/unpaid rule: the callers decide. Idempotent: an order that
    is no longer live is left alone and {} is returned. Returns {ticket_type_id: seats released}.
    """
    if status in LIVE_ORDER_STATUSES:
        raise ValueError("void_order needs a dead status")
    now = now or utcnow()
    _lock_order(order.id)
    moved = db.session.execute(
        update(_orders)
        .where(_orders.c.id == order.id, _orders.c.status.in_(LIVE_ORDER_STATUSES))
        .values(status=status, cancelled_at=now)
    ).rowcount
    if moved != 1:
        return {}
    released_rows = db.session.execute(
        update(_tickets)
        .where(_tickets.c.order_id == order.id, _tickets.c.status == TicketStatus.VALID)
        .values(status=TicketStatus.CANCELLED, cancelled_at=now)
        .returning(_tickets.c.ticket_type_id)
    ).all()
    per_type = dict(Counter(row[0] for row in released_rows))
    _give_back(order.event_id, per_type)
    db.session.expire(order)
    for t in list(order.tickets):
        db.session.expire(t)
    if release_hooks and per_type:
        _run_release_hooks(per_type)
    return per_type


def _ensure_self_cancellable(order: Order, tickets: list[Ticket]) -> None:
    if order.is_paid:
        raise NotCancellableError(
            "Paid tickets are cancelled with a refund, which is not available here yet. Please contact the organizer."
        )
    if any(t.checked_in_at is not None for t in tickets if t.status == TicketStatus.VALID):
        raise NotCancellableError("A ticket that was already used at the door cannot be cancelled.")


def cancel_order(order: Order, *, actor=None, now: datetime | None = None) -> Order:
    """Cancel every ticket of a free order, give the seats back, email the buyer.

    Paid orders raise `NotCancellableError` (refunds are the payment issue's), as does an order one of
    whose tickets was already used. Cancelling a cancelled order does nothing.
    """
    now = now or utcnow()
    order = _lock_order(order.id)
    if not order.is_live:
        return order
    _ensure_self_cancellable(order, order.tickets)
    cancelled = order.valid_tickets
    lines = [(t.attendee_name, t.ticket_type.name) for t in cancelled]
    if void_order(order, status=OrderStatus.CANCELLED, now=now):
        emails.queue_cancellation(order, lines, whole_order=True, key=f"cancellation:order:{order.id}")
    return order


def cancel_ticket(ticket: Ticket, *, actor=None, now: datetime | None = None) -> Ticket:
    """Cancel one ticket of a free order, give its seat back, email the buyer.

    When it was the order's last valid ticket the order is cancelled too. Idempotent.
    """
    now = now or utcnow()
    order = _lock_order(ticket.order_id)
    if ticket.status == TicketStatus.CANCELLED or not order.is_live:
        return ticket
    _ensure_self_cancellable(order, [ticket])
    if len(order.valid_tickets) == 1:
        cancel_order(order, actor=actor, now=now)
        return ticket
    changed = db.session.execute(
        update(_tickets)
        .where(_tickets.c.id == ticket.id, _tickets.c.status == TicketStatus.VALID,
               _tickets.c.checked_in_at.is_(None))
        .values(status=TicketStatus.CANCELLED, cancelled_at=now)
    ).rowcount
    db.session.expire(ticket)
    if changed != 1:
        return ticket
    per_type = {ticket.ticket_type_id: 1}
    _give_back(order.event_id, per_type)
    emails.queue_cancellation(
        order, [(ticket.attendee_name, ticket.ticket_type.name)], whole_order=False,
        key=f"cancellation:ticket:{ticket.id}",
    )
    _run_release_hooks(per_type)
    return ticket


def rename_attendee(ticket: Ticket, name: str, email: str | None = None, *, actor=None) -> Ticket:
    """Put another person's name (and optional email; blank removes it) on a valid ticket."""
    errors: dict[str, str] = {}
    clean = clean_name(name, "name", errors)
    clean_mail = clean_email(email, "email", errors, required=False)
    if errors:
        raise ValidationError(errors)
    if ticket.status != TicketStatus.VALID or not ticket.order.is_live:
        raise TicketNotEditableError("A cancelled ticket cannot be changed.")
    ticket.attendee_name = clean
    ticket.attendee_email = clean_mail
    db.session.flush()
    return ticket


# --- the event is cancelled --------------------------------------------------------------------

def cancel_orders_of_event(event: Event, actor=None) -> int:
    """Called by events.services.cancel_event (same transaction): every live order is cancelled and
    its buyer told. Seats are given back but the waitlist hooks do not run: there is nothing to offer.

    Paid orders are cancelled too; refunding them is the payment issue's (it can find them as
    cancelled orders with total_cents > 0 of a cancelled event). Returns the number of orders."""
    orders = db.session.scalars(
        select(Order).where(Order.event_id == event.id, Order.status.in_(LIVE_ORDER_STATUSES)).order_by(Order.id)
    ).all()
    count = 0
    for order in orders:
        if void_order(order, status=OrderStatus.CANCELLED, release_hooks=False):
            emails.queue_event_cancelled(order, key=f"event-cancelled:{order.id}")
            count += 1
    return count


if cancel_orders_of_event not in event_services.on_event_cancelled:
    event_services.on_event_cancelled.append(cancel_orders_of_event)
