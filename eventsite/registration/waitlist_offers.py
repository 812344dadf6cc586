"""The waitlist's offers: the first freed seat goes to the queue as a reserved offer, claimed or passed on.

The queue itself (joining, positions, what can be waited for, her page) is in
`registration.waitlist`; this module offers freed seats, claims offers, expires them (a worker
task) and lets her leave.

How it works, and why
---------------------
**A freed seat is never back on public sale while someone waits for it.** Seats are counted only
in `ticket_types.sold` / `events.sold`, and an offer *keeps its seats claimed*: it is a reservation
that the count includes, so the public form keeps saying "sold out" and its conditional UPDATE finds
no room. When seats are released (a cancellation runs `cancellation.on_seats_released` inside the
cancelling transaction, after `give_back`; an expired payment hold does the same through
`void_order`), `offer_seats` walks the queue and re-claims the seats with the very same conditional
UPDATEs (`claim_ticket_type` / `claim_event`) in the same transaction. Nobody can take them in
between: on PostgreSQL the releasing transaction still holds the row locks its `give_back` UPDATEs
took on the ticket type and the event until it commits, and on SQLite there is one writer at a
time (`run_in_transaction` takes the writer lock first). If a claim finds no room after all (a seat
of another type the event's capacity also limits), nothing is offered and nothing is lost.

**The offer** lasts `WAITLIST_OFFER_HOURS` (default 48), cut short by the end of registration so she
is never offered a seat she could not claim, and is emailed through the outbox with the key
`waitlist-offer:<entry id>` (an entry is offered at most once: an offer that runs out ends the
entry), carrying her private link `{EVENTSITE_BASE_URL}/waitlist/<token>`.

**Claiming** (`claim_offer`) locks her entry (SELECT ... FOR UPDATE), checks the offer is still open,
then gives the reserved seats back and immediately registers her through
`services.register_attendees`, which claims them again with its own conditional UPDATE and writes
the order, its tickets and the confirmation email. Both happen in one transaction under the same
locks (PostgreSQL row locks on the ticket type and event rows from the give-back; SQLite's single
writer), so the seats cannot be taken in between and are never claimed twice; the registration
rules (open event, sales window, one order per email, questions) apply exactly as on the public
form. Inside a savepoint, so a refusal (say a required question left empty) leaves the reservation
as it was. Seats that something else releases during the claim (the payment domain expires the
event's holds that ran out at the start of every registration) are offered to the next people
only after her seats are claimed again, never while hers look free. The entry then moves
`offered -> claimed` with a conditional UPDATE, which together with
the row lock makes a second claim (a double click, two tabs, two devices) a clear refusal and never a
second order. A paid ticket becomes a `pending_payment` order with the usual seat hold, so an
unpaid claim returns its seats through the payment issue's hold expiry, and from there to the
next person waiting.

**Expiry** is a periodic task (`waitlist.expire_offers`, run by `flask worker`). Each offer that ran
out is moved `offered -> expired` with a conditional UPDATE (`WHERE status = 'offered' AND
offer_expires_at <= now`), so two workers never expire, and pass on, the same offer twice; only the
one whose UPDATE matched gives the seats back and calls `offer_seats`, which offers them to the
next person (a new offer and email) or, when nobody waiting wants them, leaves them given back: on
public sale again. The same task then sweeps events where seats are free while people wait (an
organizer raised a capacity, or seats came back through a path that does not run the hook) and
offers them, so the queue heals itself within one worker poll. Re-running it changes nothing and
queues nothing new.

**Locks and deadlocks.** Claims follow the registration's order (ticket type, then event). A walk
that offers several types in one transaction can, rarely, wait on a public registration in the
opposite order; PostgreSQL then reports a deadlock, which `run_in_transaction` retries and the
worker retries on its next poll. Nothing half-done is ever committed.

**Leaving** (a link in every waitlist email, a confirmation page, then POST) ends the entry; leaving
with an open offer declines it and passes the seats on at once.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from eventsite.core.db import begin_write, utcnow
from eventsite.core.errors import ValidationError
from eventsite.core.tasks import register_task
from eventsite.events.models import Event, EventStatus, TicketType
from eventsite.extensions import db
from eventsite.registration import cancellation as registration_cancellation
from eventsite.registration import services as registration_services
from eventsite.registration import waitlist_emails
from eventsite.registration.capacity import (
    claim_event,
    claim_ticket_type,
    give_back,
    give_back_types,
)
from eventsite.registration.errors import (
    OfferNotAvailableError,
    PaymentUnavailableError,
    WaitlistLinkError,
)
from eventsite.registration.models import (
    LIVE_WAITLIST_STATUSES,
    Order,
    WaitlistEntry,
    WaitlistStatus,
)
from eventsite.registration.validation import CONSENT_MISSING
from eventsite.registration.waitlist import (
    not_available_message,
    offer_hours,
    offerable,
    room,
)

_entries = WaitlistEntry.__table__


# --- offers --------------------------------------------------------------------------------------

def _offer_deadline(event: Event, now: datetime) -> datetime:
    until = now + timedelta(hours=offer_hours())
    closes = min(d for d in (event.registration_closes_at, event.ends_at) if d is not None)
    return min(until, closes)


def _reserve(event: Event, tt: TicketType, n: int) -> bool:
    """Claim `n` seats of `tt` and of the event with the registration's conditional UPDATEs, or none."""
    if not claim_ticket_type(tt, n):
        return False
    if not claim_event(event, n):
        give_back_types({tt.id: n})
        return False
    return True


def _mark_offered(entry: WaitlistEntry, tt: TicketType, now: datetime) -> bool:
    moved = db.session.execute(
        update(_entries)
        .where(_entries.c.id == entry.id, _entries.c.status == WaitlistStatus.WAITING)
        .values(status=WaitlistStatus.OFFERED, offered_ticket_type_id=tt.id, offered_at=now,
                offer_expires_at=_offer_deadline(entry.event, now))
    ).rowcount
    db.session.expire(entry)
    return moved == 1


def offer_seats(event: Event, *, now: datetime | None = None) -> list[WaitlistEntry]:
    """Offer what is free of `event` to the people waiting, first come first served; return the new
    offers. Each offer claims its seats (they stay counted as sold) and queues its email.

    Call it in the transaction that freed the seats, right after they were given back: the row locks
    of that give-back (PostgreSQL) or the writer lock (SQLite) keep them from the public meanwhile.
    """
    now = now or utcnow()
    if event.status != EventStatus.PUBLISHED or not event.registration_is_open(now):
        return []
    types = [tt for tt in event.ticket_types if offerable(tt, now)]

    def free_types() -> list[TicketType]:
        return [tt for tt in types if room(tt, event) > 0]

    if not free_types():
        return []
    waiting = db.session.scalars(
        select(WaitlistEntry)
        .where(WaitlistEntry.event_id == event.id, WaitlistEntry.status == WaitlistStatus.WAITING)
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        .execution_options(populate_existing=True)
    ).all()
    offered: list[WaitlistEntry] = []
    for entry in waiting:
        free = free_types()
        if not free:
            break
        candidates = [tt for tt in free if entry.ticket_type_id in (None, tt.id)]
        for tt in candidates:
            if entry.quantity > tt.max_per_order or room(tt, event) < entry.quantity:
                continue
            if not _reserve(event, tt, entry.quantity):
                continue
            if _mark_offered(entry, tt, now):
                waitlist_emails.queue_offer(entry)
                offered.append(entry)
            else:  # she left in the meantime
                give_back(event.id, {tt.id: entry.quantity})
            break
    return offered


# The event whose offer is being claimed in this thread, if any: see claim_offer.
_claiming: ContextVar[int | None] = ContextVar("waitlist_claiming", default=None)


def _on_seats_released(tt: TicketType, n: int) -> None:
    """`registration.cancellation.on_seats_released`: a cancellation gave seats back (same
    transaction)."""
    if _claiming.get() == tt.event_id:
        return  # claim_offer offers what is free once her own seats are claimed again
    offer_seats(tt.event)


# --- claim ---------------------------------------------------------------------------------------

def _lock_entry(token: Any) -> WaitlistEntry:
    """Her entry, row-locked on PostgreSQL and read afresh, so claims and declines of one entry queue."""
    if not isinstance(token, str) or not (16 <= len(token) <= 64):
        raise WaitlistLinkError()
    entry = db.session.scalar(
        select(WaitlistEntry).where(WaitlistEntry.token == token).with_for_update()
        .execution_options(populate_existing=True)
    )
    if entry is None:
        raise WaitlistLinkError()
    return entry


def claim_offer(token: Any, *, answers: Mapping[Any, Any] | None = None,
                attendees: Iterable[Mapping[str, Any]] | None = None, now: datetime | None = None,
                allow_paid: bool = True, terms_accepted: bool = False) -> Order:
    """Turn the open offer behind `token` into her order (confirmed if free, pending payment if paid).

    When the event has terms (`terms_url`) she must accept them here as on the public form
    (`terms_accepted`); otherwise a `ValidationError` on `consent`, and the offer stays open.

    `allow_paid=False` (online payment not set up) refuses a paid offer with `PaymentUnavailableError`
    before anything is touched. Raises `WaitlistLinkError` (no such entry), `OfferNotAvailableError`
    (claimed, expired, given up, or still waiting), and whatever `register_attendees` raises
    (`ValidationError` for the event's questions and the extra attendees' names,
    `RegistrationClosedError`, `AlreadyRegisteredError`); on any of them nothing has changed: the offer
    still holds its seats.
    """
    now = now or utcnow()
    entry = _lock_entry(token)
    if not entry.offer_is_open(now) or entry.offered_ticket_type_id is None:
        raise OfferNotAvailableError(not_available_message(entry, now), entry_status=entry.status)
    if not allow_paid and entry.offered_ticket_type.price_cents > 0:
        raise PaymentUnavailableError()
    event = entry.event
    if event.terms_url and not terms_accepted:
        raise ValidationError({"consent": CONSENT_MISSING})
    tt_id, n = entry.offered_ticket_type_id, entry.quantity
    # While her seats are given back, seats released by anything else in this transaction (the
    # payment domain expires holds that ran out at the start of every registration) must not be
    # offered yet: the offer would see her seats as free. The release hook waits, and we offer
    # whatever is free once her seats are claimed again.
    claiming = _claiming.set(event.id)
    try:
        with db.session.begin_nested():
            # The reserved seats go back and are claimed again by the registration itself, under the
            # row locks this give-back takes (PostgreSQL) or the writer lock (SQLite): no one can take
            # them in between, and they are counted once.
            give_back(event.id, {tt_id: n})
            order = registration_services.register_attendees(
                event, buyer_name=entry.name, buyer_email=entry.email, quantities={tt_id: n},
                attendees=attendees, answers=answers, now=now, terms_accepted=terms_accepted,
            )
            moved = db.session.execute(
                update(_entries)
                .where(_entries.c.id == entry.id, _entries.c.status == WaitlistStatus.OFFERED)
                .values(status=WaitlistStatus.CLAIMED, claimed_at=now, order_id=order.id)
            ).rowcount
            if moved != 1:  # pragma: no cover - impossible under the row lock; refuse rather than double-book
                raise OfferNotAvailableError("This offer is no longer available.")
    finally:
        _claiming.reset(claiming)
    db.session.expire(entry)
    offer_seats(event, now=now)
    return order


# --- leave ---------------------------------------------------------------------------------------

def leave_waitlist(token: Any, *, now: datetime | None = None) -> WaitlistEntry:
    """She leaves the queue; with an open offer she declines it and the seats go to the next person.

    Idempotent: an entry that is no longer live is returned as it is. Raises `WaitlistLinkError`.
    """
    now = now or utcnow()
    entry = _lock_entry(token)
    was = entry.status
    if was not in LIVE_WAITLIST_STATUSES:
        return entry
    moved = db.session.execute(
        update(_entries)
        .where(_entries.c.id == entry.id, _entries.c.status == was)
        .values(status=WaitlistStatus.REMOVED, ended_at=now)
    ).rowcount
    db.session.expire(entry)
    if moved == 1 and was == WaitlistStatus.OFFERED and entry.offered_ticket_type_id is not None:
        give_back(entry.event_id, {entry.offered_ticket_type_id: entry.quantity})
        offer_seats(entry.event, now=now)
    return entry


# --- the worker's task ---------------------------------------------------------------------------

EXPIRY_BATCH = 200


def expire_offers(now: datetime | None = None) -> int:
    """Expire offers that ran out and pass their seats on (or back on sale); offer seats that are free
    while people wait. Returns how many offers expired plus how many were made. Safe to run again and
    from several workers at once."""
    now = now or utcnow()
    due = db.session.execute(
        select(WaitlistEntry.id, WaitlistEntry.event_id)
        .where(WaitlistEntry.status == WaitlistStatus.OFFERED, WaitlistEntry.offer_expires_at <= now)
        .order_by(WaitlistEntry.offer_expires_at, WaitlistEntry.id)
        .limit(EXPIRY_BATCH)
    ).all()
    events_waiting = _events_with_free_seats_and_queue(now)
    if not due and not events_waiting:
        return 0
    begin_write(db.session)  # SQLite: take the writer lock before the first write (no-op on PostgreSQL)
    done = 0
    for entry_id, event_id in due:
        entry = db.session.get(WaitlistEntry, entry_id, populate_existing=True, with_for_update=True)
        if entry is None:  # pragma: no cover - its event was deleted meanwhile
            continue
        moved = db.session.execute(
            update(_entries)
            .where(_entries.c.id == entry_id, _entries.c.status == WaitlistStatus.OFFERED,
                   _entries.c.offer_expires_at <= now)
            .values(status=WaitlistStatus.EXPIRED, ended_at=now)
        ).rowcount
        db.session.expire(entry)
        if moved != 1:  # another worker, a claim or a decline got there first
            continue
        done += 1
        if entry.offered_ticket_type_id is not None:
            give_back(event_id, {entry.offered_ticket_type_id: entry.quantity})
    # Seats just given back, and any free while people wait: offered in the same transaction.
    for event_id in sorted({e for _, e in due} | set(events_waiting)):
        event = db.session.get(Event, event_id)
        if event is not None:
            done += len(offer_seats(event, now=now))
    return done


def _events_with_free_seats_and_queue(now: datetime) -> list[int]:
    """Events open for registration that have someone waiting and a seat free for an offer."""
    event_ids = db.session.scalars(
        select(WaitlistEntry.event_id).distinct()
        .join(Event, Event.id == WaitlistEntry.event_id)
        .where(WaitlistEntry.status == WaitlistStatus.WAITING, Event.status == EventStatus.PUBLISHED,
               Event.ends_at > now)
    ).all()
    out = []
    for event_id in event_ids:
        event = db.session.get(Event, event_id)
        if event is not None and event.registration_is_open(now) and any(
            room(tt, event) > 0 for tt in event.ticket_types if offerable(tt, now)
        ):
            out.append(event_id)
    return out


# --- wiring (import time; repeatable) -----------------------------------------------------------

if _on_seats_released not in registration_cancellation.on_seats_released:
    registration_cancellation.on_seats_released.append(_on_seats_released)
register_task("waitlist.expire_offers", expire_offers)
