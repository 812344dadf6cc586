"""Planning a follow-up step (`plan`'s first phase): who is matched (`eligible_query`), what the
matching subtracts (`history_for`), and the matching itself, whose suggestions are stored in the
plan's transaction (`plan_step`)."""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.orm import aliased

from eventsite.connections import matching
from eventsite.connections.models import (
    Audience,
    ConnectionSettings,
    Introduction,
    NetworkingProfile,
    Step,
    Suggestion,
)
from eventsite.core.db import insert_unnest
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus


def eligible_query(event: Event, settings: ConnectionSettings, *columns):
    query = (
        select(*columns)
        .select_from(NetworkingProfile)
        .join(Ticket, Ticket.id == NetworkingProfile.ticket_id)
        .join(Order, Order.id == Ticket.order_id)
        .where(
            NetworkingProfile.event_id == event.id,
            NetworkingProfile.consent_to_suggest.is_(True),
            NetworkingProfile.unsubscribed_at.is_(None),
            Ticket.status == TicketStatus.VALID,
            Order.status == OrderStatus.CONFIRMED,
        )
    )
    if settings.audience == Audience.CHECKED_IN:
        query = query.where(Ticket.checked_in_at.is_not(None))
    return query


def history_for(event: Event, emails_by_id: dict[int, str]) -> matching.History:
    """What the matching subtracts: this event's earlier suggestions (directed) and every
    introduction asked for (any state) between these people, here or at an earlier event of the
    organization (matched by email)."""
    ids = set(emails_by_id)
    suggested = {
        (a, b) for a, b in db.session.execute(
            select(Suggestion.profile_id, Suggestion.suggested_id).where(Suggestion.event_id == event.id))
        if a in ids  # (b may have left since: the pair still tells that `a` was suggested people)
    }
    introduced: set[frozenset[int]] = set()
    for a, b in db.session.execute(
        select(Introduction.first_id, Introduction.second_id)
        .where(Introduction.event_id == event.id, Introduction.first_id.is_not(None), Introduction.second_id.is_not(None))
    ):
        introduced.add(frozenset((a, b)))
    id_by_email = {email: pid for pid, email in emails_by_id.items()}
    first, second = aliased(NetworkingProfile), aliased(NetworkingProfile)
    earlier = db.session.execute(
        select(first.email, second.email)
        .select_from(Introduction)
        .join(first, first.id == Introduction.first_id)
        .join(second, second.id == Introduction.second_id)
        .join(Event, Event.id == Introduction.event_id)
        .where(Event.organization_id == event.organization_id, Introduction.event_id != event.id)
    )
    for a_email, b_email in earlier:
        a, b = id_by_email.get(a_email), id_by_email.get(b_email)
        if a is not None and b is not None and a != b:
            introduced.add(frozenset((a, b)))
    return matching.History(frozenset(suggested), frozenset(introduced))


def plan_step(event: Event, step: Step, settings: ConnectionSettings, now: datetime) -> tuple[int, int]:
    """Match the eligible attendees and store the suggestions. Returns (people, suggestions)."""
    rows = db.session.execute(eligible_query(
        event, settings, NetworkingProfile.id, NetworkingProfile.name, NetworkingProfile.company,
        NetworkingProfile.offers, NetworkingProfile.asks, NetworkingProfile.email,
    )).all()
    people = [matching.Person(pid, name, company or "", tuple(offers or ()), tuple(asks or ()))
              for pid, name, company, offers, asks, _ in rows]
    history = history_for(event, {row[0]: row[5] for row in rows})
    cfg = current_app.config
    result = matching.suggest(
        people, history,
        k=int(cfg.get("CONNECTIONS_SUGGESTIONS_PER_PERSON", matching.DEFAULT_K)),
        cap=int(cfg.get("CONNECTIONS_SUGGESTED_CAP", matching.DEFAULT_CAP)),
    )
    values = [
        {"event_id": event.id, "step": step, "profile_id": pid, "suggested_id": m.other, "rank": rank,
         "score": m.score, "created_at": now}
        for pid in sorted(result) for rank, m in enumerate(result[pid], start=1)
    ]
    _store_suggestions(values)
    return len(people), len(values)


def _store_suggestions(values: list[dict]) -> None:
    """One INSERT of arrays on PostgreSQL (`insert_unnest`: 30,000 rows an executemany sent a
    statement each), batches of 1,000 through the ORM elsewhere."""
    if values and db.session.get_bind().dialect.name == "postgresql":
        insert_unnest(db.session.connection(), Suggestion.__table__, values)
        return
    for start in range(0, len(values), 1000):
        db.session.execute(insert(Suggestion), values[start:start + 1000])
