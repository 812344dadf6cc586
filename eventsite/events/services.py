"""Event rules: create, edit, publish and cancel events; ticket types; questions.

Every function takes plain values (the form and the API both call them), validates them, raises
`ValidationError({field: message})` on bad input, and flushes. The caller commits once.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from eventsite.accounts.models import User
from eventsite.core.db import utcnow
from eventsite.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from eventsite.core.text import SLUG_RE, slugify
from eventsite.events.access import MANAGERS
from eventsite.events.models import (
    Event,
    EventStatus,
    Question,
    TicketType,
)
from eventsite.events.validation import (
    RESERVED_SLUGS,
    clean_event,
    clean_question,
    clean_ticket_type,
)
from eventsite.extensions import db

# --- events ------------------------------------------------------------------------------------

def unique_slug(title: str, *, exclude_id: int | None = None) -> str:
    base = slugify(title, 80)
    slug, n = base, 1
    while _slug_taken(slug, exclude_id):
        n += 1
        slug = f"{base}-{n}"
    return slug


def _slug_taken(slug: str, exclude_id: int | None) -> bool:
    if slug in RESERVED_SLUGS:
        return True
    q = select(func.count()).select_from(Event).where(Event.slug == slug)
    if exclude_id is not None:
        q = q.where(Event.id != exclude_id)
    return bool(db.session.scalar(q))


def organization_for_new_event(user: User, organization_slug: str | None = None) -> int:
    """The organization a new event of `user` goes to: the one she names by slug, or the only one
    where she is owner or organizer. ValidationError on `organization` when that is ambiguous or not
    hers; PermissionDeniedError when she manages none."""
    managed = sorted((m.organization for m in user.memberships if m.role in MANAGERS), key=lambda o: o.slug)
    if organization_slug is not None:
        match = next((o for o in managed if o.slug == organization_slug), None)
        if match is None:
            raise ValidationError({"organization": "You are not an owner or organizer of an organization with this slug."})
        return match.id
    if not managed:
        raise PermissionDeniedError("Only owners and organizers can create events.")
    if len(managed) > 1:
        raise ValidationError({"organization": "You belong to several organizations; give the slug of one of: "
                                               + ", ".join(o.slug for o in managed) + "."})
    return managed[0].id


def create_event(organization_id: int, data: dict, *, actor: User | None) -> Event:
    """A new event of `organization_id`, a draft unless data['status'] == 'published'.

    With an `actor`, she must be an owner or organizer of that organization.
    """
    if actor is not None:
        membership = actor.membership_in(organization_id)
        if membership is None or membership.role not in MANAGERS:
            raise PermissionDeniedError("You cannot create events for this organization.")
    clean = clean_event(data, current=None)
    if clean.get("slug"):
        if _slug_taken(clean["slug"], None):
            raise ValidationError({"slug": "This address is taken; choose another."})
    else:
        clean["slug"] = unique_slug(clean["title"])
    event = Event(organization_id=organization_id, **clean)
    db.session.add(event)
    db.session.flush()
    return event


def update_event(event: Event, changes: dict, *, actor: User | None) -> Event:
    """Change any fields. Times may move at any moment, into the past too (the record gets corrected)."""
    clean = clean_event(changes, current=event)
    if clean.get("slug") and clean["slug"] != event.slug and _slug_taken(clean["slug"], event.id):
        raise ValidationError({"slug": "This address is taken; choose another."})
    status = clean.pop("status", None)
    if status is not None and status != event.status and event.status == EventStatus.CANCELLED:
        raise ConflictError("A cancelled event cannot be published or made a draft again.", code="cancelled")
    for key, value in clean.items():
        if key == "slug" and not value:
            continue
        setattr(event, key, value)
    db.session.flush()
    # Status changes go through the same functions as the buttons, so their rules and callbacks apply.
    if status == EventStatus.CANCELLED:
        cancel_event(event, actor=actor)
    elif status == EventStatus.PUBLISHED:
        publish_event(event, actor=actor)
    elif status == EventStatus.DRAFT:
        unpublish_event(event, actor=actor)
    return event


def publish_event(event: Event, *, actor: User | None) -> Event:
    if event.status == EventStatus.CANCELLED:
        raise ConflictError("A cancelled event cannot be published again.", code="cancelled")
    event.status = EventStatus.PUBLISHED
    db.session.flush()
    return event


def unpublish_event(event: Event, *, actor: User | None) -> Event:
    if event.status == EventStatus.CANCELLED:
        raise ConflictError("A cancelled event cannot go back to draft.", code="cancelled")
    event.status = EventStatus.DRAFT
    db.session.flush()
    return event


# Higher domains (registration) react to a cancellation through this list of callbacks
# (fn(event, actor)): they cancel orders and queue emails in the same transaction.
on_event_cancelled: list = []


def cancel_event(event: Event, *, actor: User | None) -> Event:
    if event.status == EventStatus.CANCELLED:
        return event
    event.status = EventStatus.CANCELLED
    db.session.flush()
    for callback in on_event_cancelled:
        callback(event, actor)
    return event


UPCOMING_LIMIT = 100  # events on the home page


def upcoming_public_events(now: datetime | None = None, limit: int = UPCOMING_LIMIT) -> list[Event]:
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Event)
            .where(Event.status == EventStatus.PUBLISHED, Event.ends_at > now)
            .options(selectinload(Event.ticket_types))
            .order_by(Event.starts_at, Event.id)
            .limit(limit)
        )
    )


def events_managed_by(user: User, *, status: EventStatus | None = None) -> list[Event]:
    """Events of every organization where `user` is owner or organizer, soonest first."""
    from eventsite.accounts.models import Membership

    orgs = select(Membership.organization_id).where(Membership.user_id == user.id, Membership.role.in_(MANAGERS))
    query = (
        select(Event)
        .where(Event.organization_id.in_(orgs))
        .options(selectinload(Event.ticket_types), joinedload(Event.organization))
    )
    if status is not None:
        query = query.where(Event.status == status)
    return list(db.session.scalars(query.order_by(Event.starts_at, Event.id)))


def public_event(slug: str) -> Event:
    """A published or cancelled event by slug; drafts are not public."""
    if not isinstance(slug, str) or not SLUG_RE.match(slug) or len(slug) > 120:
        raise NotFoundError("No such event.")
    # One round trip for the event, its organization and its ticket types (a handful of rows); the
    # public page and the registration form need all three on every request.
    event = db.session.scalars(
        select(Event)
        .where(Event.slug == slug)
        .options(joinedload(Event.ticket_types), joinedload(Event.organization))
    ).unique().one_or_none()
    if event is None or not event.is_public:
        raise NotFoundError("No such event.")
    return event


# --- ordering (ticket types and questions share it) ---------------------------------------------

def _next_position(items) -> int:
    return max((item.position for item in items), default=-1) + 1


def _move(items: list, item, offset: int) -> None:
    """Move `item` by `offset` places among `items`; renumber them 0..n-1.

    Sorted here rather than trusting the loaded collection's order, which goes stale once positions change.
    """
    ordered = sorted(items, key=lambda each: (each.position, each.id or 0))
    index = ordered.index(item)
    target = min(max(index + offset, 0), len(ordered) - 1)
    ordered.insert(target, ordered.pop(index))
    for position, each in enumerate(ordered):
        if each.position != position:
            each.position = position
    db.session.flush()


# --- ticket types ------------------------------------------------------------------------------

def add_ticket_type(event: Event, data: dict, *, actor: User | None) -> TicketType:
    clean = clean_ticket_type(data, event=event, current=None)
    if "position" not in clean:
        clean["position"] = _next_position(event.ticket_types)
    tt = TicketType(event=event, **clean)
    db.session.add(tt)
    db.session.flush()
    return tt


def update_ticket_type(tt: TicketType, changes: dict, *, actor: User | None) -> TicketType:
    for key, value in clean_ticket_type(changes, event=tt.event, current=tt).items():
        setattr(tt, key, value)
    db.session.flush()
    return tt


def move_ticket_type(tt: TicketType, offset: int, *, actor: User | None) -> TicketType:
    """Move a ticket type up (offset -1) or down (+1) in the event's list."""
    _move(tt.event.ticket_types, tt, offset)
    return tt


def delete_ticket_type(tt: TicketType, *, actor: User | None) -> None:
    if tt.sold:
        raise ConflictError("Tickets of this type are sold; hide it instead of deleting it.", code="has_sales")
    try:
        with db.session.begin_nested():  # tickets (even cancelled ones) still refer to it: keep it
            db.session.delete(tt)
            db.session.flush()
    except IntegrityError:
        raise ConflictError(
            "Tickets of this type exist (some may be cancelled); hide it instead of deleting it.", code="has_sales"
        ) from None


# --- questions ---------------------------------------------------------------------------------

def add_question(event: Event, data: dict, *, actor: User | None) -> Question:
    clean = clean_question(data, current=None)
    if "position" not in clean:
        clean["position"] = _next_position(event.questions)
    question = Question(event=event, **clean)
    db.session.add(question)
    db.session.flush()
    return question


def update_question(question: Question, changes: dict, *, actor: User | None) -> Question:
    for key, value in clean_question(changes, current=question).items():
        setattr(question, key, value)
    db.session.flush()
    return question


def move_question(question: Question, offset: int, *, actor: User | None) -> Question:
    """Move a question up (offset -1) or down (+1) in the event's list."""
    _move(question.event.questions, question, offset)
    return question


def delete_question(question: Question, *, actor: User | None) -> None:
    db.session.delete(question)
    db.session.flush()
