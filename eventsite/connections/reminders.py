"""Cross-event reminders: when she registers for a later event of the same organization, the people
she was introduced to at an earlier one who are coming too ("you met Dana at the spring breakfast
14 months ago; she is coming too"), shown on her ticket page. Reads only.

Consent both ways: she must have a consenting profile at this event, and so must each person shown
(she sees others only as others may see her); the earlier introduction must still exist (a deleted
profile cuts it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from eventsite.connections.models import (
    Introduction,
    IntroductionStatus,
    NetworkingProfile,
)
from eventsite.connections.profiles import can_be_shown, profile_for_order
from eventsite.core.db import utcnow
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Order


@dataclass(frozen=True)
class KnownPerson:
    name: str
    event_title: str
    event_starts_at: datetime
    ago: str  # "14 months ago"


def time_ago(then: datetime, now: datetime) -> str:
    days = max((now - then).days, 0)
    if days < 14:
        return "a few days ago" if days > 1 else "recently"
    if days < 60:
        return f"{days // 7} weeks ago"
    months = round(days / 30.44)
    if months < 24:
        return f"{months} months ago"
    return f"{days // 365} years ago"


def people_you_know_coming(order: Order, *, now: datetime | None = None) -> list[KnownPerson]:
    """People she was introduced to at earlier events of the same organization who are coming to this
    one. Both must have a consenting profile here (she sees others only as others may see her), the
    earlier introduction must still be there (a deleted profile cuts it), and their tickets valid."""
    now = now or utcnow()
    event = order.event
    mine = profile_for_order(order)
    if mine is None or not can_be_shown(mine):
        return []
    earlier = db.session.execute(
        select(NetworkingProfile.id, Event.title, Event.starts_at)
        .join(Event, Event.id == NetworkingProfile.event_id)
        .where(NetworkingProfile.email == order.buyer_email, Event.organization_id == event.organization_id,
               Event.id != event.id, Event.ends_at <= event.starts_at)
    ).all()
    if not earlier:
        return []
    my_ids = {row[0]: (row[1], row[2]) for row in earlier}
    intros = db.session.scalars(
        select(Introduction).where(
            Introduction.status == IntroductionStatus.MADE,
            or_(Introduction.first_id.in_(my_ids), Introduction.second_id.in_(my_ids)))
    ).all()
    found: dict[str, KnownPerson] = {}
    for intro in intros:
        mine_id = intro.first_id if intro.first_id in my_ids else intro.second_id
        other_id = intro.other_id(mine_id)
        old_other = db.session.get(NetworkingProfile, other_id) if other_id else None
        if old_other is None or old_other.email == order.buyer_email:
            continue
        here = db.session.scalar(select(NetworkingProfile).where(
            NetworkingProfile.event_id == event.id, NetworkingProfile.email == old_other.email))
        if not can_be_shown(here):
            continue
        title, starts_at = my_ids[mine_id]
        known = KnownPerson(here.name, title, starts_at, time_ago(starts_at, now))
        if old_other.email not in found or found[old_other.email].event_starts_at < starts_at:
            found[old_other.email] = known
    return sorted(found.values(), key=lambda k: (k.name.casefold(), k.event_title))
