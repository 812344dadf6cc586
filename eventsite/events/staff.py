"""Door staff: which events a check-in staff member may work.

Lives in the events domain (it knows events) and builds on the accounts team rules: only an owner
of the organization assigns, and only that organization's events can be assigned.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select

from eventsite.accounts.models import Membership, Role, User
from eventsite.accounts.team import managed_membership
from eventsite.core.errors import ConflictError, ValidationError
from eventsite.events.models import CheckinAssignment, Event
from eventsite.extensions import db


@dataclass
class DoorAssignment:
    membership: Membership
    events: list[Event]  # every event of her organization, newest first
    assigned_ids: set[int]


def door_assignment(membership_id: int, *, actor: User) -> DoorAssignment:
    """The events a check-in staff member could work, and those she is assigned to."""
    membership = managed_membership(membership_id, actor=actor)
    if membership.role != Role.CHECKIN:
        raise ConflictError(
            "Only check-in staff are assigned to events; owners and organizers can work every door.",
            "not_checkin_staff",
        )
    events = list(
        db.session.scalars(
            select(Event)
            .where(Event.organization_id == membership.organization_id)
            .order_by(Event.starts_at.desc(), Event.id.desc())
        )
    )
    assigned = set(
        db.session.scalars(select(CheckinAssignment.event_id).where(CheckinAssignment.membership_id == membership.id))
    )
    return DoorAssignment(membership, events, assigned)


def assign_door_events(membership_id: int, event_ids: Iterable[int], *, actor: User) -> DoorAssignment:
    """Make `event_ids` exactly the events this check-in staff member may work."""
    current = door_assignment(membership_id, actor=actor)
    wanted = {int(i) for i in event_ids}
    allowed = {e.id for e in current.events}
    if wanted - allowed:
        raise ValidationError({"event_ids": "Choose only events of this organization."})
    removed = current.assigned_ids - wanted
    if removed:
        db.session.execute(
            delete(CheckinAssignment).where(
                CheckinAssignment.membership_id == current.membership.id,
                CheckinAssignment.event_id.in_(removed),
            )
        )
    for event_id in sorted(wanted - current.assigned_ids):
        db.session.add(CheckinAssignment(membership_id=current.membership.id, event_id=event_id))
    db.session.flush()
    current.assigned_ids = wanted
    return current
