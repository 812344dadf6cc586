"""One line to make each thing a test needs. Call inside an app context; each commits."""
from __future__ import annotations

from datetime import timedelta
from itertools import count

from eventsite.accounts.models import Membership, Role, User
from eventsite.accounts.services import add_member, create_organizer, create_user
from eventsite.core.db import utcnow
from eventsite.events.models import CheckinAssignment, Event, EventStatus, Question, QuestionKind, TicketType
from eventsite.extensions import db

_seq = count(1)
PASSWORD = "correct horse battery"


def make_organizer(email: str | None = None, *, name: str = "Test Organizer", password: str = PASSWORD) -> User:
    user = create_organizer(email or f"organizer{next(_seq)}@example.org", password, name=name)
    db.session.commit()
    return user


def make_member(organization_id: int, role: Role, email: str | None = None, *, events: list[Event] = ()) -> User:
    from eventsite.accounts.models import Organization

    user = create_user(email or f"member{next(_seq)}@example.org", PASSWORD, name="Team Member")
    membership: Membership = add_member(db.session.get(Organization, organization_id), user, role)
    for event in events:
        db.session.add(CheckinAssignment(membership_id=membership.id, event_id=event.id))
    db.session.commit()
    return user


def make_event(organization_id: int, **kw) -> Event:
    n = next(_seq)
    starts = kw.pop("starts_at", utcnow() + timedelta(days=14))
    event = Event(
        organization_id=organization_id,
        title=kw.pop("title", f"Leadership Evening {n}"),
        slug=kw.pop("slug", f"leadership-evening-{n}"),
        summary=kw.pop("summary", "An evening of talks and conversations."),
        description=kw.pop("description", "Join us for **talks** and time to meet."),
        starts_at=starts,
        ends_at=kw.pop("ends_at", starts + timedelta(hours=3)),
        timezone=kw.pop("timezone", "Europe/Berlin"),
        venue_name=kw.pop("venue_name", "Kulturhaus"),
        venue_address=kw.pop("venue_address", "Hauptstraße 1, 10115 Berlin"),
        status=kw.pop("status", EventStatus.PUBLISHED),
        **kw,
    )
    db.session.add(event)
    db.session.commit()
    return event


def make_ticket_type(event: Event, **kw) -> TicketType:
    tt = TicketType(
        event_id=event.id,
        name=kw.pop("name", "General admission"),
        price_cents=kw.pop("price_cents", 0),
        currency=kw.pop("currency", event.currency),
        capacity=kw.pop("capacity", 100),
        **kw,
    )
    db.session.add(tt)
    db.session.commit()
    return tt


def make_question(event: Event, **kw) -> Question:
    q = Question(
        event_id=event.id,
        label=kw.pop("label", "Dietary requirements"),
        kind=kw.pop("kind", QuestionKind.SHORT_TEXT),
        **kw,
    )
    db.session.add(q)
    db.session.commit()
    return q
