"""Data for the scenarios, made through the app's own services (like tests/factories.py).

Call inside `env.app_context()`; each function flushes, the caller commits.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from eventsite.accounts.models import User
from eventsite.accounts.services import create_api_token, create_organizer
from eventsite.core.db import utcnow
from eventsite.events.models import Event, TicketType
from eventsite.events.services import add_ticket_type, create_event
from eventsite.extensions import db

PASSWORD = "bench organizer password"


def organizer(env) -> User:
    """The benchmark's organizer (one per database), made on first use."""
    user_id = env.shared.get("organizer_id")
    if user_id is not None:
        return db.session.get(User, user_id)
    user = create_organizer("bench-organizer@example.org", PASSWORD, name="Bench Organizer")
    db.session.flush()
    env.shared["organizer_id"] = user.id
    return user


def organization_id(env) -> int:
    return organizer(env).memberships[0].organization_id


def published_event(env, title: str, *, days_ahead: int = 30, **fields) -> Event:
    """A published upcoming event with a unique slug, venue and description like a real one."""
    starts = utcnow() + timedelta(days=days_ahead)
    slug = f"{fields.pop('slug_prefix', 'bench')}-{secrets.token_hex(3)}"
    data = {
        "title": title,
        "slug": slug,
        "summary": "An evening of short talks and time to meet the people in the room.",
        "description": "Doors open at 18:00. **Short talks**, then conversations over food.\n\n"
                       "- Mentoring circles\n- Leadership stories\n- Time to meet",
        "timezone": "Europe/Berlin",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=3)).isoformat(),
        "venue_name": "Kulturhaus",
        "venue_address": "Hauptstraße 1\n10115 Berlin",
        "currency": "EUR",
        "status": "published",
        **fields,
    }
    return create_event(organization_id(env), data, actor=None)


def free_ticket_type(event: Event, capacity: int, *, name: str = "General admission",
                     max_per_order: int = 10) -> TicketType:
    return add_ticket_type(event, {"name": name, "price_cents": 0, "currency": event.currency,
                                   "capacity": capacity, "max_per_order": max_per_order}, actor=None)


def api_token(env, user: User | None = None, name: str = "bench") -> str:
    _, plaintext = create_api_token(user or organizer(env), name)
    return plaintext


def paid_ticket_type(event: Event, capacity: int, price_cents: int, *, name: str = "Conference pass",
                     max_per_order: int = 10) -> TicketType:
    return add_ticket_type(event, {"name": name, "price_cents": price_cents, "currency": event.currency,
                                   "capacity": capacity, "max_per_order": max_per_order}, actor=None)
