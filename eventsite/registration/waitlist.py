"""The waitlist's queue: join when an event is sold out, see your place and your waitlist page.

Offering a freed seat, claiming it, expiring offers and leaving the queue are in
`registration.waitlist_offers`, which walks this queue.

How it works, and why
---------------------
**The queue.** A `WaitlistEntry` waits for `quantity` seats of one ticket type, or of any type of
the event (`ticket_type_id` None). The queue is first in, first out by `(created_at, id)` across the
whole event: one walk serves every type, and an entry is skipped (not dropped) when what she wants
does not fit in what is free, so a single freed seat goes to the first person who wants one seat
rather than sitting blocked behind a table of eight. One live entry (waiting or offered) per email
per event, enforced by a partial unique index like the orders' one.

**When the event is cancelled** every live entry is removed, reserved seats are given back, and each
person is told (`remove_entries_of_event`, run by `events.services.on_event_cancelled`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from eventsite.core.db import utcnow
from eventsite.core.errors import ValidationError
from eventsite.core.security import random_token
from eventsite.events import services as event_services
from eventsite.events.models import Event, EventStatus, TicketType
from eventsite.extensions import db
from eventsite.registration import services as registration_services
from eventsite.registration import waitlist_emails
from eventsite.registration.capacity import give_back
from eventsite.registration.errors import (
    AlreadyOnWaitlistError,
    AlreadyRegisteredError,
    RegistrationClosedError,
    TicketsAvailableError,
    WaitlistLinkError,
)
from eventsite.registration.models import (
    LIVE_WAITLIST_STATUSES,
    WaitlistEntry,
    WaitlistStatus,
)
from eventsite.registration.validation import (
    MAX_TICKETS_PER_ORDER,
    clean_email,
    clean_name,
    int_or_error,
)

DEFAULT_OFFER_HOURS = 48
TOKEN_BITS = 130
ANY = "any"  # the form's value for "any ticket type"

_entries = WaitlistEntry.__table__


# --- configuration and lookups ------------------------------------------------------------------

def offer_hours() -> float:
    return float(current_app.config.get("WAITLIST_OFFER_HOURS") or DEFAULT_OFFER_HOURS)


def entry_by_token(token: Any) -> WaitlistEntry | None:
    if not isinstance(token, str) or not (16 <= len(token) <= 64):
        return None
    return db.session.scalar(select(WaitlistEntry).where(WaitlistEntry.token == token))


def live_entry_for(event: Event, email: str) -> WaitlistEntry | None:
    return db.session.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.event_id == event.id, WaitlistEntry.email == email,
            WaitlistEntry.status.in_(LIVE_WAITLIST_STATUSES),
        )
    )


def position(entry: WaitlistEntry) -> int | None:
    """Her place in the queue for what she wants: 1 + the people waiting ahead of her who could take
    the same seat (same type, or "any"; everyone, if she herself takes any). None unless waiting."""
    if entry.status != WaitlistStatus.WAITING:
        return None
    ahead = or_(
        WaitlistEntry.created_at < entry.created_at,
        and_(WaitlistEntry.created_at == entry.created_at, WaitlistEntry.id < entry.id),
    )
    query = select(func.count()).select_from(WaitlistEntry).where(
        WaitlistEntry.event_id == entry.event_id, WaitlistEntry.status == WaitlistStatus.WAITING, ahead,
    )
    if entry.ticket_type_id is not None:
        query = query.where(or_(WaitlistEntry.ticket_type_id == entry.ticket_type_id,
                                WaitlistEntry.ticket_type_id.is_(None)))
    return 1 + db.session.scalar(query)


# --- what is free, what can be waited for -------------------------------------------------------

def room(tt: TicketType, event: Event) -> int:
    """Seats of `tt` that a claim could take now, within the event's own capacity (a read: used only
    to choose whom to try; the conditional UPDATE decides)."""
    left = tt.capacity - tt.sold
    if event.capacity is not None:
        left = min(left, event.capacity - event.sold)
    return max(left, 0)


def offerable(tt: TicketType, now: datetime) -> bool:
    return not tt.hidden and tt.on_sale(now)


@dataclass(frozen=True)
class WaitlistChoice:
    value: str  # a ticket type id as text, or "any"
    label: str
    max_quantity: int


def waitlist_choices(event: Event, now: datetime | None = None) -> list[WaitlistChoice]:
    """What a visitor may wait for right now: each visible, on-sale ticket type that is sold out, and
    "any ticket type" when every one of them is (and there are several). Empty when registration is
    closed, or when nothing is sold out."""
    now = now or utcnow()
    if not event.registration_is_open(now):
        return []
    on_sale = [tt for tt in event.ticket_types if offerable(tt, now)]
    sold_out = [tt for tt in on_sale if room(tt, event) <= 0]
    choices = [WaitlistChoice(str(tt.id), tt.name, min(tt.max_per_order, MAX_TICKETS_PER_ORDER)) for tt in sold_out]
    if len(sold_out) >= 2 and len(sold_out) == len(on_sale):
        choices.append(WaitlistChoice(ANY, "Any ticket type",
                                      min(min(tt.max_per_order for tt in sold_out), MAX_TICKETS_PER_ORDER)))
    return choices


# --- join ----------------------------------------------------------------------------------------

def join_waitlist(event: Event, *, name: Any, email: Any, ticket_type: Any, quantity: Any = 1,
                  now: datetime | None = None) -> WaitlistEntry:
    """Put `name` <`email`> on the waitlist of `event` for `quantity` seats of `ticket_type` (a ticket
    type id, or "any"), queue the confirmation email, return the entry (flushed, not committed).

    Raises `RegistrationClosedError`, `ValidationError` (fields `name`, `email`, `ticket_type`,
    `quantity`), `TicketsAvailableError` (field `ticket_type`: register instead),
    `AlreadyRegisteredError` and `AlreadyOnWaitlistError` (field `email`).
    """
    now = now or utcnow()
    if event.status == EventStatus.CANCELLED:
        raise RegistrationClosedError("This event has been cancelled.")
    if not event.registration_is_open(now):
        from eventsite.events.display import registration_note

        raise RegistrationClosedError(registration_note(event, now) or "Registration is not open.")

    errors: dict[str, str] = {}
    clean = clean_name(name, "name", errors)
    address = clean_email(email, "email", errors)

    types = {tt.id: tt for tt in event.ticket_types}
    wanted: TicketType | None = None
    is_any = isinstance(ticket_type, str) and ticket_type.strip().lower() == ANY
    if not is_any:
        tid = int_or_error(ticket_type)
        wanted = types.get(tid) if tid else None
        if wanted is None or wanted.hidden:
            errors["ticket_type"] = "Choose the ticket type you want to wait for."
            wanted = None

    n = int_or_error(quantity if quantity not in (None, "") else 1)
    choices = {c.value: c for c in waitlist_choices(event, now)}
    limit = MAX_TICKETS_PER_ORDER
    if wanted is not None:
        limit = min(wanted.max_per_order, MAX_TICKETS_PER_ORDER)
    elif is_any and ANY in choices:
        limit = choices[ANY].max_quantity
    if n is None or n < 1:
        errors["quantity"] = "Choose how many tickets you want: 1 or more."
    elif n > limit:
        errors["quantity"] = f"You can wait for at most {limit} ticket{'s' if limit != 1 else ''} here."
    if errors:
        raise ValidationError(errors)

    if wanted is not None and str(wanted.id) not in choices:
        if not wanted.on_sale(now):
            if wanted.sales_start and now < wanted.sales_start:
                raise ValidationError({"ticket_type": f"Sales of “{wanted.name}” have not started yet."})
            raise ValidationError({"ticket_type": f"Sales of “{wanted.name}” have ended."})
        raise TicketsAvailableError(f"Tickets of “{wanted.name}” are available: register instead.",
                                    field="ticket_type")
    if is_any and ANY not in choices:
        raise TicketsAvailableError("Tickets are available: register instead.", field="ticket_type")
    assert address is not None

    if registration_services.live_order_for(event, address) is not None:
        raise AlreadyRegisteredError("This email address is already registered for this event.")
    if live_entry_for(event, address) is not None:
        raise AlreadyOnWaitlistError()

    entry = WaitlistEntry(
        event=event, ticket_type=wanted, name=clean, email=address, quantity=n,
        status=WaitlistStatus.WAITING, token=random_token(TOKEN_BITS), created_at=now,
    )
    try:
        with db.session.begin_nested():  # two identical requests at once: the partial unique index decides
            db.session.add(entry)
            db.session.flush()
    except IntegrityError:
        if live_entry_for(event, address) is not None:
            raise AlreadyOnWaitlistError() from None
        raise
    waitlist_emails.queue_joined(entry, position(entry) or 1, offer_hours())
    return entry


# --- the event is cancelled ---------------------------------------------------------------------

def remove_entries_of_event(event: Event, actor=None) -> int:
    """`events.services.on_event_cancelled`: everyone waiting is told; reserved seats are given back."""
    now = utcnow()
    entries = db.session.scalars(
        select(WaitlistEntry)
        .where(WaitlistEntry.event_id == event.id, WaitlistEntry.status.in_(LIVE_WAITLIST_STATUSES))
        .order_by(WaitlistEntry.id)
    ).all()
    count = 0
    for entry in entries:
        was = entry.status
        moved = db.session.execute(
            update(_entries).where(_entries.c.id == entry.id, _entries.c.status == was)
            .values(status=WaitlistStatus.REMOVED, ended_at=now)
        ).rowcount
        db.session.expire(entry)
        if moved != 1:
            continue
        if was == WaitlistStatus.OFFERED and entry.offered_ticket_type_id is not None:
            give_back(event.id, {entry.offered_ticket_type_id: entry.quantity})
        waitlist_emails.queue_event_cancelled(entry)
        count += 1
    return count


# --- what her waitlist page shows ---------------------------------------------------------------

def not_available_message(entry: WaitlistEntry, now: datetime) -> str:
    if entry.status == WaitlistStatus.CLAIMED:
        return "You have already claimed this place: your tickets are on your ticket page."
    if entry.status == WaitlistStatus.EXPIRED or (entry.status == WaitlistStatus.OFFERED and not entry.offer_is_open(now)):
        return "Sorry, this offer has expired and the place has gone to the next person waiting."
    if entry.status == WaitlistStatus.REMOVED:
        return "This waitlist place was given up, so there is nothing to claim."
    return "There is no place to claim yet: we will email you as soon as one frees up."


@dataclass(frozen=True)
class EntryPage:
    entry: WaitlistEntry
    event: Event
    status: str  # waiting, offered, claimed, expired, removed (an offer past its time reads "expired")
    position: int | None
    wanted_label: str
    offered_type: TicketType | None
    offer_expires_at: datetime | None
    paid: bool
    hold_minutes: int
    message: str | None  # why nothing can be claimed, when that is the case


def entry_page(token: Any, now: datetime | None = None) -> EntryPage:
    """Everything her page `/waitlist/<token>` shows. Raises `WaitlistLinkError`. Reads only."""
    now = now or utcnow()
    entry = entry_by_token(token)
    if entry is None:
        raise WaitlistLinkError()
    status = entry.status.value
    if entry.status == WaitlistStatus.OFFERED and not entry.offer_is_open(now):
        status = WaitlistStatus.EXPIRED.value
    offered = entry.offered_ticket_type
    return EntryPage(
        entry=entry,
        event=entry.event,
        status=status,
        position=position(entry),
        wanted_label=entry.ticket_type.name if entry.ticket_type else "Any ticket type",
        offered_type=offered,
        offer_expires_at=entry.offer_expires_at,
        paid=bool(offered and offered.price_cents > 0),
        hold_minutes=int(current_app.config.get("SEAT_HOLD_MINUTES") or registration_services.DEFAULT_HOLD_MINUTES),
        message=None if status == "offered" else not_available_message(entry, now),
    )


# --- wiring (import time; repeatable) -----------------------------------------------------------

if remove_entries_of_event not in event_services.on_event_cancelled:
    event_services.on_event_cancelled.append(remove_entries_of_event)
