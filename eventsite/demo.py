"""Demo data for `flask --app eventsite seed-demo` (and `make run`).

Idempotent: each piece is looked up first and made only when missing; what exists is never changed,
so a second run changes nothing. Everything goes through the same services the pages use, so the
demo data obeys the same rules as real data. The caller commits once.

Layout, so later issues can extend it in one place:
- `DEMO_EVENTS` describes the events (times relative to today, in each event's own zone);
- `seed_demo()` makes the organizer, her organization and the events;
- `add_demo_attendees(event)` is the one hook for attendees of the past event (they need the
  registration models); `seed_demo()` already calls it for every event with `attendees=True`.
- `demo_connections`: `add_demo_connection_settings(event, tags)` saves an event's keep-in-touch
  plan with its tag list (every event with `tags`), and `add_demo_profiles(event)` gives the past
  event's attendees their networking profiles, most with consent, so that `flask --app eventsite
  worker --once` right after `make run` queues the day-after follow-ups. The past event ended three
  days ago: its day-after step fell due at 10:00 local two days ago and stays due until the next step
  (a month after the event) is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from eventsite.accounts.models import Organization, Role, User
from eventsite.accounts.services import create_organizer, find_user_by_email
from eventsite.core.db import utcnow
from eventsite.demo_connections import add_demo_connection_settings, add_demo_profiles
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
    # Paid events: the refund policy (full refund until N days before; None: none) and the terms a
    # visitor agrees to when she registers ("": no terms, no consent box).
    refund_until_days_before: int | None = None
    terms_url: str = ""
    tags: tuple[str, ...] = ()  # the keep-in-touch tag list profiles choose from ((): no settings saved)

    def moments(self, now: datetime) -> tuple[datetime, datetime]:
        zone = ZoneInfo(self.timezone)
        day: date = now.astimezone(zone).date() + timedelta(days=self.days_from_today)
        starts = datetime.combine(day, self.starts, tzinfo=zone).astimezone(timezone.utc)
        ends = datetime.combine(day, self.ends, tzinfo=zone).astimezone(timezone.utc)
        return starts, ends


PAST_EVENT_TAGS = ("Board governance", "Non-executive roles", "Negotiation", "Career change", "Fundraising",
                   "Public speaking", "Mentoring", "Leadership", "Product management", "Hiring", "Finance",
                   "Charity trusteeship")

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
        refund_until_days_before=7,
        terms_url="https://example.org/women-lead-network/terms",
        tags=("Negotiation", "Board governance", "Career change", "Fundraising", "Public speaking",
              "Mentoring", "Leadership", "Product management", "Hiring"),
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
        tags=("Negotiation", "Pay and promotion", "Career change", "Leadership", "Hiring",
              "Public speaking", "Mentoring"),
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
        tags=PAST_EVENT_TAGS,
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
        new_settings = bool(spec.tags) and add_demo_connection_settings(event, spec.tags)
        if new_settings:
            created.append(f"keep-in-touch plan and tags for “{spec.title}”")
        if spec.attendees:
            added = add_demo_attendees(event)
            if added:
                created.append(f"{added} attendees for “{spec.title}”")
            profiled = add_demo_profiles(event) if new_settings else 0
            if profiled:
                created.append(f"{profiled} networking profiles for “{spec.title}”")
        seeded.append(event)
    return DemoSeed(user=user, organization=organization, events=seeded, created=created)


# The past event's circle: (name, email, days before the event she registered, her answer to "What
# would you like to get out of the circle?", minutes after the start she was checked in or None).
DEMO_ATTENDEES: tuple[tuple[str, str, int, str, int | None], ...] = (
    ("Amara Okafor", "amara.okafor@example.org", 19, "A route to my first non-executive role", 2),
    ("Beatriz Santos", "beatriz.santos@example.org", 19, "How to write a board CV", 5),
    ("Chloé Martin", "chloe.martin@example.org", 18, "", 7),
    ("Deepa Raman", "deepa.raman@example.org", 17, "Which boards look for finance people", 1),
    ("Eilidh MacLeod", "eilidh.macleod@example.org", 15, "Advice on charity trusteeships", 12),
    ("Fatima Haddad", "fatima.haddad@example.org", 14, "", None),
    ("Grace Liu", "grace.liu@example.org", 14, "Meeting people who have done it", 3),
    ("Hannah Becker", "hannah.becker@example.org", 12, "Confidence to apply", 9),
    ("Ifeoma Nwosu", "ifeoma.nwosu@example.org", 11, "Whether an advisory board is a good first step", 4),
    ("Jessica Turner", "jessica.turner@example.org", 10, "", 15),
    ("Kavya Iyer", "kavya.iyer@example.org", 9, "How to talk about my tech background on a board", 6),
    ("Laura Kowalski", "laura.kowalski@example.org", 8, "A mentor", None),
    ("Mei Tanaka", "mei.tanaka@example.org", 7, "Understanding governance basics", 8),
    ("Nadia Rahman", "nadia.rahman@example.org", 7, "", 11),
    ("Olivia Brennan", "olivia.brennan@example.org", 6, "Headhunters: how to get on their radar", 2),
    ("Priya Shah", "priya.shah@example.org", 5, "Time commitment of a board seat", 20),
    ("Rachel Cohen", "rachel.cohen@example.org", 4, "", None),
    ("Sofia Rossi", "sofia.rossi@example.org", 3, "Balancing a board role with my day job", 4),
    ("Tamsin Hughes", "tamsin.hughes@example.org", 2, "How others found their first seat", 13),
    ("Uzma Qureshi", "uzma.qureshi@example.org", 2, "Introductions to NED networks", 7),
    ("Valentina Cruz", "valentina.cruz@example.org", 1, "", None),
    ("Wen Zhao", "wen.zhao@example.org", 1, "Practising my pitch", 3),
)


def add_demo_attendees(event: Event) -> int:
    """Give the past demo event its attendees: registered through `register_attendees` on the days
    before the event (its `now`), most of them checked in at the door. Returns how many were added;
    adds none when they exist already (an attendee is skipped if her email has any order for the
    event, so a demo attendee the organizer cancelled is not brought back).

    Their confirmation emails are taken out of the outbox again: these people "registered" weeks ago,
    and a seed must not mail twenty-two addresses today. Their networking profiles and consent are
    added by `demo_connections.add_demo_profiles`.
    """
    from eventsite.core.mail.models import OutboxMessage
    from eventsite.registration.models import Order
    from eventsite.registration.services import confirmation_key, register_attendees

    if not event.ticket_types:
        return 0
    emails = [email for _, email, *_ in DEMO_ATTENDEES]
    existing = set(db.session.scalars(select(Order.buyer_email).where(Order.event_id == event.id,
                                                                      Order.buyer_email.in_(emails))))
    ticket_type = event.ticket_types[0]
    question = event.questions[0] if event.questions else None
    added: list[Order] = []
    for n, (name, email, days_before, answer, checked_in_after) in enumerate(DEMO_ATTENDEES):
        if email in existing:
            continue
        registered_at = event.starts_at - timedelta(days=days_before, hours=3, minutes=17 * n % 60)
        order = register_attendees(
            event, buyer_name=name, buyer_email=email, quantities={ticket_type.id: 1},
            answers={question.id: answer} if question and answer else None, now=registered_at,
        )
        if checked_in_after is not None:
            order.tickets[0].checked_in_at = event.starts_at + timedelta(minutes=checked_in_after)
        added.append(order)
    if added:
        db.session.flush()
        keys = [confirmation_key(order) for order in added]
        db.session.execute(delete(OutboxMessage).where(OutboxMessage.key.in_(keys)))
    return len(added)


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
            "refund_until_days_before": spec.refund_until_days_before,
            "terms_url": spec.terms_url,
            "status": "published",
        },
        actor=user,
    )
    for tt in spec.ticket_types:
        events.add_ticket_type(event, {**tt, "currency": spec.currency}, actor=user)
    for question in spec.questions:
        events.add_question(event, dict(question), actor=user)
    return event

