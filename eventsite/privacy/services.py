"""Her data: the download, the organizer's erasure, and the retention purge of networking profiles.

Conventions (ARCHITECTURE.md): plain arguments in, the actor and `now` as arguments, `flush()` only.

- **Download** (`export_for_order`): the token of one registration proves she holds that email's
  inbox, so the answer is what the organization holds about that address: her orders at its events
  (with their tickets, answers and consent to the terms), tickets in her name on other people's
  orders (her ticket only), waitlist places, networking profiles with their consents and her
  introductions. The other side of an introduction is named only once it was made, when both got
  an email with each other's name and address; until then it is "another attendee". No ticket
  secrets or page tokens (the file may be stored anywhere).
- **Erasure** (`erase_order`): the registration stays as an anonymous count, so capacity, sales and
  check-in figures do not move: its status, prices and ticket types are kept; every name, email
  address and answer on the order and its tickets is overwritten, the page token is replaced (the
  old link is dead), her networking profiles at the event are deleted (connections' hard delete), her
  waitlist places at the event end (an open offer is passed on) and are deleted, and every email to
  her addresses is deleted from the outbox, sent or not. An audit log entry records who erased which
  order code and the counts, nothing personal.
- **Retention** (`purge_expired_profiles`): networking profiles of events that ended more than
  `PROFILE_RETENTION_DAYS` ago are deleted (the worker runs it each poll; 0 turns it off).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, or_, select

from eventsite.connections import profiles as connection_profiles
from eventsite.connections.models import (
    Introduction,
    IntroductionStatus,
    NetworkingProfile,
)
from eventsite.core.db import utcnow
from eventsite.core.errors import ConflictError
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.security import random_token
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.privacy.models import AuditLogEntry
from eventsite.registration import waitlist_offers
from eventsite.registration.answers import answer_lines
from eventsite.registration.models import Order, OrderStatus, Ticket, WaitlistEntry

ERASED_NAME = "(erased)"
ERASED_DOMAIN = "erased.invalid"  # RFC 2606: never a real mailbox
PURGE_BATCH = 500
DEFAULT_RETENTION_DAYS = 365


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def is_erased(order: Order) -> bool:
    return order.buyer_email.endswith("@" + ERASED_DOMAIN)


# --- the download ----------------------------------------------------------------------------------

def _event_json(event: Event) -> dict:
    return {"title": event.title, "slug": event.slug, "starts_at": _iso(event.starts_at),
            "ends_at": _iso(event.ends_at), "timezone": event.timezone}


def _ticket_json(n: int, t: Ticket) -> dict:
    return {"number": n, "attendee_name": t.attendee_name, "attendee_email": t.attendee_email,
            "ticket_type": t.ticket_type.name, "price_cents": t.price_cents, "status": t.status.value,
            "checked_in_at": _iso(t.checked_in_at), "created_at": _iso(t.created_at),
            "cancelled_at": _iso(t.cancelled_at)}


def _order_json(order: Order) -> dict:
    return {
        "code": order.code, "event": _event_json(order.event), "status": order.status.value,
        "source": order.source.value, "buyer_name": order.buyer_name, "buyer_email": order.buyer_email,
        "total_cents": order.total_cents, "currency": order.currency,
        "created_at": _iso(order.created_at), "confirmed_at": _iso(order.confirmed_at),
        "cancelled_at": _iso(order.cancelled_at),
        "answers": [{"question": line.label, "answer": line.text}
                    for line in answer_lines(order.event, order.answers) if line.text],
        "tickets": [_ticket_json(n, t) for n, t in enumerate(order.tickets, start=1)],
    }


def _introduction_json(intro: Introduction, profile: NetworkingProfile) -> dict:
    other_id = intro.other_id(profile.id)
    other = db.session.get(NetworkingProfile, other_id) if other_id is not None else None
    made = intro.status == IntroductionStatus.MADE
    side = intro.side_of(profile.id)
    return {
        "status": intro.status.value,
        "you_asked": intro.requester_id == profile.id or (made and intro.mutual),
        "with": ({"name": other.name, "email": other.email} if made and other is not None
                 else "another attendee"),
        "requested_at": _iso(intro.requested_at), "made_at": _iso(intro.made_at),
        "your_answer_to_did_you_meet": (getattr(intro, f"{side}_outcome").value
                                        if side and getattr(intro, f"{side}_outcome") else None),
    }


def _profile_json(profile: NetworkingProfile) -> dict:
    intros = db.session.scalars(select(Introduction).where(
        or_(Introduction.first_id == profile.id, Introduction.second_id == profile.id)).order_by(Introduction.id))
    return {
        "event": _event_json(profile.event), "name": profile.name, "email": profile.email,
        "intro": profile.intro, "company": profile.company, "offers": list(profile.offers or []),
        "offers_text": profile.offers_text, "asks": list(profile.asks or []), "asks_text": profile.asks_text,
        "linkedin_url": profile.linkedin_url, "website_url": profile.website_url,
        "created_at": _iso(profile.created_at), "updated_at": _iso(profile.updated_at),
        "introductions": [_introduction_json(i, profile) for i in intros],
    }


def _consents(orders: list[Order], profiles: list[NetworkingProfile]) -> list[dict]:
    out: list[dict] = []
    for o in orders:
        if o.terms_accepted_at:
            out.append({"consent": "organizer_terms", "event": o.event.title, "order": o.code,
                        "given_at": _iso(o.terms_accepted_at), "terms_url": o.terms_url})
    for p in profiles:
        out.append({"consent": "networking_suggestions", "event": p.event.title, "given": p.consent_to_suggest,
                    "given_at": _iso(p.consented_at)})
        out.append({"consent": "networking_emails", "event": p.event.title, "given": p.unsubscribed_at is None,
                    "withdrawn_at": _iso(p.unsubscribed_at)})
    return out


def export_for_order(order: Order, *, now: datetime | None = None) -> dict[str, Any]:
    """What the organization of `order`'s event holds about its buyer's email address (see above)."""
    email = order.buyer_email
    org_events = select(Event.id).where(Event.organization_id == order.event.organization_id)
    orders = list(db.session.scalars(select(Order).where(Order.buyer_email == email,
                                                         Order.event_id.in_(org_events)).order_by(Order.id)))
    own = {o.id for o in orders}
    other_tickets = [t for t in db.session.scalars(
        select(Ticket).where(func.lower(Ticket.attendee_email) == email, Ticket.event_id.in_(org_events))
        .order_by(Ticket.id)) if t.order_id not in own]
    entries = list(db.session.scalars(select(WaitlistEntry).where(
        WaitlistEntry.email == email, WaitlistEntry.event_id.in_(org_events)).order_by(WaitlistEntry.id)))
    profiles = list(db.session.scalars(select(NetworkingProfile).where(
        NetworkingProfile.email == email, NetworkingProfile.event_id.in_(org_events)).order_by(NetworkingProfile.id)))
    return {
        "about": f"Everything {order.event.organization.name} holds about {email} on eventsite.",
        "generated_at": _iso(now or utcnow()),
        "email": email,
        "orders": [_order_json(o) for o in orders],
        "tickets_on_other_orders": [
            {"event": _event_json(t.event), "attendee_name": t.attendee_name, "attendee_email": t.attendee_email,
             "ticket_type": t.ticket_type.name, "status": t.status.value, "checked_in_at": _iso(t.checked_in_at)}
            for t in other_tickets],
        "waitlist": [{"event": _event_json(e.event), "name": e.name, "email": e.email, "quantity": e.quantity,
                      "status": e.status.value, "created_at": _iso(e.created_at)} for e in entries],
        "networking_profiles": [_profile_json(p) for p in profiles],
        "consents": _consents(orders, profiles),
    }


# --- erasure ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Erasure:
    tickets: int
    profiles: int
    waitlist_entries: int
    emails: int

    def as_details(self) -> dict[str, int]:
        return {"tickets": self.tickets, "profiles": self.profiles, "waitlist_entries": self.waitlist_entries,
                "emails": self.emails}


class AlreadyErasedError(ConflictError):
    code = "already_erased"


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _addressed_to(addresses: set[str]):
    """Outbox rows to one of `addresses`, plain or with a display name (`"Ada" <ada@example.org>`)."""
    lowered = func.lower(OutboxMessage.to_addr)
    return or_(*[or_(lowered == a, lowered.like(f"%<{_like_escaped(a)}>", escape="\\")) for a in addresses])


def _anonymize(order: Order) -> None:
    order.buyer_name = ERASED_NAME
    order.buyer_email = f"erased-{order.code.lower()}@{ERASED_DOMAIN}"
    order.answers = {}
    order.token = random_token()  # her old link to the ticket page (and the download) is dead
    for t in order.tickets:
        t.attendee_name = ERASED_NAME
        t.attendee_email = None


def erase_order(order: Order, *, actor, now: datetime | None = None) -> Erasure:
    """Erase the people of `order` (buyer and every ticket's attendee, and her other orders for the
    event) from the event (see above)."""
    now = now or utcnow()
    if is_erased(order):
        raise AlreadyErasedError("This registration has already been erased.")
    if order.status == OrderStatus.PENDING_PAYMENT:
        raise ConflictError("This order is waiting for its payment: erase it once it is paid or has expired.",
                            code="payment_pending")
    event = order.event
    # Her earlier registrations for the event (say, one she cancelled) name her too.
    orders = [order, *db.session.scalars(select(Order).where(
        Order.event_id == event.id, Order.buyer_email == order.buyer_email, Order.id != order.id))]
    addresses = {o.buyer_email.lower() for o in orders} | {
        t.attendee_email.lower() for o in orders for t in o.tickets if t.attendee_email}
    ticket_ids = [t.id for o in orders for t in o.tickets]

    doomed = list(db.session.scalars(select(NetworkingProfile).where(
        NetworkingProfile.event_id == event.id,
        or_(NetworkingProfile.ticket_id.in_(ticket_ids), NetworkingProfile.email.in_(addresses)))))
    for profile in doomed:
        connection_profiles.delete_profile(profile, now=now)

    entries = list(db.session.scalars(select(WaitlistEntry).where(
        WaitlistEntry.event_id == event.id, WaitlistEntry.email.in_(addresses))))
    for entry in entries:
        waitlist_offers.leave_waitlist(entry.token, now=now)  # an open offer goes to the next person
    if entries:
        db.session.execute(delete(WaitlistEntry).where(WaitlistEntry.id.in_([e.id for e in entries])),
                           execution_options={"synchronize_session": False})

    emails = db.session.execute(delete(OutboxMessage).where(_addressed_to(addresses)),
                                execution_options={"synchronize_session": False}).rowcount or 0

    for o in orders:
        _anonymize(o)
    erasure = Erasure(len(ticket_ids), len(doomed), len(entries), emails)
    db.session.add(AuditLogEntry(organization_id=event.organization_id, event_id=event.id,
                                 actor_id=getattr(actor, "id", None), action="attendee.erased",
                                 subject=f"order {order.code}", details=erasure.as_details(), created_at=now))
    db.session.flush()
    return erasure


# --- retention -------------------------------------------------------------------------------------

def retention_days() -> int:
    return int(current_app.config.get("PROFILE_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def purge_expired_profiles(now: datetime | None = None, *, days: int | None = None) -> int:
    """Delete the networking profiles of events that ended more than `days` ago (a batch per call);
    returns how many. One audit entry per event. Safe to run twice or from two workers at once (a
    profile another worker deleted first is simply gone)."""
    now = now or utcnow()
    days = retention_days() if days is None else days
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    doomed = list(db.session.scalars(
        select(NetworkingProfile).join(Event, Event.id == NetworkingProfile.event_id)
        .where(Event.ends_at < cutoff).order_by(NetworkingProfile.id).limit(PURGE_BATCH)))
    per_event: dict[int, int] = {}
    for profile in doomed:
        per_event[profile.event_id] = per_event.get(profile.event_id, 0) + 1
        connection_profiles.delete_profile(profile, now=now)
    for event_id, count in per_event.items():
        event = db.session.get(Event, event_id)
        db.session.add(AuditLogEntry(organization_id=event.organization_id, event_id=event_id, actor_id=None,
                                     action="profiles.purged", subject=f"event {event.slug}",
                                     details={"profiles": count, "retention_days": days}, created_at=now))
    db.session.flush()
    return len(doomed)
