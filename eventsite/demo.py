"""Demo data for `flask --app eventsite seed-demo` (and `make run`).

Idempotent: each piece is looked up first and made only when missing; what exists is never changed,
so a second run changes nothing. Everything goes through the same services the pages use, so the
demo data obeys the same rules as real data. The caller commits once.

Layout, so later issues can extend it in one place:
- `DEMO_EVENTS` describes the events (times relative to today, in each event's own zone);
- `seed_demo()` makes the organizer, her organization and the events;
- `add_demo_attendees(event)` is the one hook for attendees of the past event (they need the
  registration models); `seed_demo()` already calls it for every event with `attendees=True`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from eventsite.accounts.models import Organization, Role, User
from eventsite.accounts.services import create_organizer, find_user_by_email
from eventsite.core.db import utcnow
from eventsite.events import services as events
from eventsite.events.models import Event
from eventsite.extensions import db

DEMO_EMAIL = "demo@eventsite.local"
DEMO_PASSWORD = "demo-password-2026"
DEMO_NAME = "Dana Whitfield"
DEMO_ORGANIZATION = "Women Lead Network"


@dataclass(frozen=True)
class DemoEvent:
    slug: str
    title: str
    summary: str
    description: str
    timezone: str
    days_from_today: int  # negative: in the past
    starts: time
    ends: time
    venue_name: str
    venue_address: str
    currency: str
    ticket_types: tuple[dict, ...]
    questions: tuple[dict, ...] = ()
    attendees: bool = False  # give it demo attendees (see add_demo_attendees)

    def moments(self, now: datetime) -> tuple[datetime, datetime]:
        zone = ZoneInfo(self.timezone)
        day: date = now.astimezone(zone).date() + timedelta(days=self.days_from_today)
        starts = datetime.combine(day, self.starts, tzinfo=zone).astimezone(timezone.utc)
        ends = datetime.combine(day, self.ends, tzinfo=zone).astimezone(timezone.utc)
        return starts, ends


DEMO_EVENTS: tuple[DemoEvent, ...] = (
    DemoEvent(
        slug="women-in-leadership-evening",
        title="Women in Leadership Evening",
        summary="Talks, honest conversation and new connections for women who lead, or want to.",
        description="""\
An evening for women who lead, or want to, and the people who back them.

## The evening
- **18:30** Doors open: drinks and introductions
- **19:00** Panel: *Asking for more: negotiating pay, scope and sponsorship*
- **19:45** Small-group conversations, one host at each table
- **21:00** Last round, then we close at 21:30

## Who it is for
Managers, founders, aspiring board members and anyone building a career in leadership.
Come on your own: our hosts make sure nobody stands at the edge of the room.

## After the evening
If you say yes when you register, we suggest two or three people worth keeping in touch with,
and introduce you when both of you want it. No spam, ever.
""",
        timezone="Europe/London",
        days_from_today=21,
        starts=time(18, 30),
        ends=time(21, 30),
        venue_name="The Assembly Rooms",
        venue_address="12 Marlow Street\nLondon EC1V 4AB\nUnited Kingdom",
        currency="GBP",
        ticket_types=(
            {"name": "Community ticket", "description": "Free. Everyone welcome.", "price_cents": 0,
             "capacity": 60, "max_per_order": 2},
            {"name": "Supporter ticket", "description": "Includes a drink and funds a free place for someone else.",
             "price_cents": 2500, "capacity": 40, "max_per_order": 8},
        ),
        questions=(
            {"label": "Any dietary needs?", "kind": "single_choice", "required": True, "show_at_door": True,
             "options": ["No requirements", "Vegetarian", "Vegan", "Gluten-free", "Halal",
                         "Something else (tell us at the door)"]},
            {"label": "What brings you here?", "kind": "short_text", "required": False},
        ),
    ),
    DemoEvent(
        slug="leadership-breakfast-negotiating-your-worth",
        title="Leadership Breakfast: Negotiating Your Worth",
        summary="An early start with coffee, a short talk and practice rounds in pairs.",
        description="""\
Coffee at 7:30, a twenty-minute talk on preparing for a pay conversation, then practice rounds in
pairs with people you have not met yet. You leave by 9:30 with a plan and a few new names.

Bring one situation you would like to rehearse.
""",
        timezone="America/New_York",
        days_from_today=45,
        starts=time(7, 30),
        ends=time(9, 30),
        venue_name="Union Hall Café",
        venue_address="150 West 22nd Street\nNew York, NY 10011\nUnited States",
        currency="USD",
        ticket_types=(
            {"name": "Breakfast ticket", "description": "Coffee and breakfast included.", "price_cents": 1800,
             "capacity": 30, "max_per_order": 4},
        ),
        questions=(
            {"label": "Your role or job title", "kind": "short_text", "required": False},
        ),
    ),
    DemoEvent(
        slug="mentoring-circle-finding-your-first-board-seat",
        title="Mentoring Circle: Finding Your First Board Seat",
        summary="A small circle with two experienced non-executive directors.",
        description="""\
Two experienced non-executive directors share how they found their first board seats, then we
work in small circles on your own next step.
""",
        timezone="Europe/London",
        days_from_today=-3,
        starts=time(18, 0),
        ends=time(20, 30),
        venue_name="The Assembly Rooms",
        venue_address="12 Marlow Street\nLondon EC1V 4AB\nUnited Kingdom",
        currency="GBP",
        ticket_types=(
            {"name": "Circle seat", "description": "Free, limited to 24.", "price_cents": 0, "capacity": 24,
             "max_per_order": 1},
        ),
        questions=(
            {"label": "What would you like to get out of the circle?", "kind": "short_text", "required": False},
        ),
        attendees=True,
    ),
)


@dataclass
class DemoSeed:
    user: User
    organization: Organization
    events: list[Event]
    created: list[str] = field(default_factory=list)  # what this run made, for the command's report


def seed_demo(now: datetime | None = None) -> DemoSeed:
    """Make whatever demo data is missing. Flushes; the caller commits."""
    now = now or utcnow()
    created: list[str] = []
    user = find_user_by_email(DEMO_EMAIL)
    if user is None:
        user = create_organizer(DEMO_EMAIL, DEMO_PASSWORD, name=DEMO_NAME, organization_name=DEMO_ORGANIZATION)
        created.append(f"organizer {DEMO_EMAIL}")
    organization = _owned_organization(user)
    seeded = []
    for spec in DEMO_EVENTS:
        event = db.session.scalar(
            select(Event).where(Event.organization_id == organization.id, Event.slug == spec.slug)
        )
        if event is None:
            event = _create_event(spec, organization, user, now)
            created.append(f"event “{spec.title}”")
        if spec.attendees:
            added = add_demo_attendees(event)
            if added:
                created.append(f"{added} attendees for “{spec.title}”")
        seeded.append(event)
    return DemoSeed(user=user, organization=organization, events=seeded, created=created)


def add_demo_attendees(event: Event) -> int:
    """Give the past demo event its attendees (with networking profiles and consent) so that the
    follow-up emails have people to introduce. Returns how many were added; must add none when they
    exist already.

    Needs the registration models, which arrive with the next issue: until then there is nothing to
    add. That issue fills in this one function (for example with register_attendees() for a list of
    demo people and their check-ins).
    """
    return 0


def _owned_organization(user: User) -> Organization:
    membership = next((m for m in user.memberships if m.role == Role.OWNER), None)
    if membership is not None:
        return membership.organization
    # The demo account exists but owns nothing (an earlier account with this email): give her one.
    from eventsite.accounts.services import create_organization

    return create_organization(DEMO_ORGANIZATION, owner=user)


def _create_event(spec: DemoEvent, organization: Organization, user: User, now: datetime) -> Event:
    starts, ends = spec.moments(now)
    event = events.create_event(
        organization.id,
        {
            "title": spec.title,
            "slug": spec.slug,
            "summary": spec.summary,
            "description": spec.description,
            "starts_at": starts,
            "ends_at": ends,
            "timezone": spec.timezone,
            "venue_name": spec.venue_name,
            "venue_address": spec.venue_address,
            "currency": spec.currency,
            "status": "published",
        },
        actor=user,
    )
    for tt in spec.ticket_types:
        events.add_ticket_type(event, {**tt, "currency": spec.currency}, actor=user)
    for question in spec.questions:
        events.add_question(event, dict(question), actor=user)
    return event

