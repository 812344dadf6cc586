"""Who may manage which event. Organizer data is scoped per organization and, for door staff, per event."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from eventsite.accounts.models import Role, User
from eventsite.core.errors import NotFoundError, PermissionDeniedError
from eventsite.core.text import SLUG_RE
from eventsite.events.models import CheckinAssignment, Event
from eventsite.extensions import db

MANAGERS = (Role.OWNER, Role.ORGANIZER)
DOOR = (Role.OWNER, Role.ORGANIZER, Role.CHECKIN)


def event_for(user: User, slug: str, *, roles: Iterable[Role] = MANAGERS) -> Event:
    """The event `slug` if `user` may act on it with one of `roles`.

    Someone outside the event's organization gets 404 (its existence is not revealed); a member
    whose role is not enough gets 403; check-in staff only see the events they are assigned to.
    """
    roles = tuple(roles)
    if not isinstance(slug, str) or not SLUG_RE.match(slug) or len(slug) > 120:
        raise NotFoundError("No such event.")  # also keeps NUL bytes away from PostgreSQL
    event = db.session.scalar(select(Event).where(Event.slug == slug))
    if event is None or user is None or not getattr(user, "is_authenticated", False):
        raise NotFoundError("No such event.")
    membership = user.membership_in(event.organization_id)
    if membership is None:
        raise NotFoundError("No such event.")
    if membership.role == Role.CHECKIN:
        assigned = db.session.get(CheckinAssignment, (membership.id, event.id)) is not None
        if not assigned:
            raise NotFoundError("No such event.")
    if membership.role not in roles:
        raise PermissionDeniedError("Your role does not allow this.")
    return event


def visible_events_query(user: User):
    """Events the user can see in her dashboard: all events of organizations she manages, and the
    events assigned to her as door staff."""
    from eventsite.accounts.models import Membership

    manager_orgs = select(Membership.organization_id).where(
        Membership.user_id == user.id, Membership.role.in_(MANAGERS)
    )
    door_events = (
        select(CheckinAssignment.event_id)
        .join(Membership, Membership.id == CheckinAssignment.membership_id)
        .where(Membership.user_id == user.id, Membership.role == Role.CHECKIN)
    )
    return select(Event).where(Event.organization_id.in_(manager_orgs) | Event.id.in_(door_events))
