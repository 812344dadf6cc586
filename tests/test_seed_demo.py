"""flask --app eventsite seed-demo: the demo organizer and her events, idempotent."""
from __future__ import annotations

from sqlalchemy import select

from eventsite.accounts.models import Membership, Organization, User
from eventsite.accounts.services import verify_password
from eventsite.connections.models import ConnectionSettings, NetworkingProfile
from eventsite.core.db import utcnow
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.mail.worker import deliver_batch
from eventsite.core.tasks import run_due_tasks
from eventsite.events.models import (
    Event,
    EventStatus,
    Question,
    QuestionKind,
    TicketType,
)
from eventsite.extensions import db
from eventsite.registration.models import (
    Order,
    OrderSource,
    OrderStatus,
    Ticket,
    TicketStatus,
)
from tests.conftest import login
from tests.events.manage_helpers import text_of


def _snapshot() -> dict:
    """Every row the seed touches, column by column."""
    rows = {}
    for model in (User, Organization, Membership, Event, TicketType, Question, Order, Ticket, OutboxMessage,
                  ConnectionSettings, NetworkingProfile):
        table = model.__table__
        rows[table.name] = [tuple(r) for r in db.session.execute(select(table).order_by(*table.primary_key.columns))]
    return rows


def test_seed_demo_makes_the_demo_data_and_prints_the_login(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "demo@eventsite.local" in result.output
    assert "demo-password-2026" in result.output
    assert "http://eventsite.test/organizer/login" in result.output
    assert "http://eventsite.test/events/women-in-leadership-evening" in result.output

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "demo@eventsite.local"))
        assert user is not None and verify_password(user, "demo-password-2026")
        org_id = user.memberships[0].organization_id
        events = {e.slug: e for e in db.session.scalars(select(Event).where(Event.organization_id == org_id))}
        now = utcnow()

        evening = events["women-in-leadership-evening"]
        assert evening.title == "Women in Leadership Evening" and evening.status == EventStatus.PUBLISHED
        assert evening.starts_at > now and evening.timezone == "Europe/London"
        assert evening.local_starts_at.strftime("%H:%M") == "18:30"
        assert "## The evening" in evening.description and evening.venue_name
        prices = sorted((t.price_cents, t.currency) for t in evening.ticket_types)
        assert prices[0] == (0, "GBP") and prices[1][0] > 0
        dietary, why = evening.questions
        assert dietary.kind == QuestionKind.SINGLE_CHOICE and len(dietary.options) >= 2 and dietary.show_at_door
        assert why.kind == QuestionKind.SHORT_TEXT and why.label == "What brings you here?"

        upcoming = [e for e in events.values() if e.starts_at > now]
        past = [e for e in events.values() if e.ends_at < now]
        assert len(upcoming) == 2 and len(past) == 1
        assert all(e.status == EventStatus.PUBLISHED for e in events.values())
        assert (now - past[0].ends_at).days <= 4

    # The demo is what a visitor sees, and the demo organizer can log in and see her events.
    client = app.test_client()
    home = client.get("/").get_data(as_text=True)
    assert "Women in Leadership Evening" in home and "Mentoring Circle" not in home
    assert client.get("/events/women-in-leadership-evening").status_code == 200
    login(client, "demo@eventsite.local", "demo-password-2026")
    dashboard = client.get("/organizer/").get_data(as_text=True)
    assert "Women in Leadership Evening" in dashboard and "Mentoring Circle: Finding Your First Board Seat" in dashboard


def test_seed_demo_twice_changes_nothing(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        first = _snapshot()
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.output and "demo-password-2026" in again.output
    with app.app_context():
        assert _snapshot() == first
        assert len(first["events"]) == 3 and len(first["users"]) == 1
        assert len(first["orders"]) == len(first["tickets"]) == 22


def test_the_past_event_has_attendees_registered_before_it_and_mostly_checked_in(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert "22 attendees for “Mentoring Circle: Finding Your First Board Seat”" in result.output
    with app.app_context():
        past = db.session.scalar(select(Event).where(Event.slug == "mentoring-circle-finding-your-first-board-seat"))
        orders = db.session.scalars(select(Order).where(Order.event_id == past.id).order_by(Order.id)).all()
        tickets = [t for o in orders for t in o.tickets]
        assert len(orders) == 22 and len(tickets) == 22
        assert all(o.status == OrderStatus.CONFIRMED and o.source == OrderSource.PUBLIC for o in orders)
        assert all(t.status == TicketStatus.VALID and t.attendee_name == o.buyer_name for o in orders for t in o.tickets)
        assert len({o.buyer_email for o in orders}) == 22
        # Registered over the weeks before the event, checked in during its first minutes.
        assert all(o.created_at < past.starts_at and (past.starts_at - o.created_at).days <= 20 for o in orders)
        assert len({o.created_at.date() for o in orders}) >= 10
        checked = [t.checked_in_at for t in tickets if t.checked_in_at]
        assert len(checked) == 18
        assert all(past.starts_at <= at <= past.ends_at for at in checked)
        assert past.ticket_types[0].sold == 22 and past.sold == 22
        question = past.questions[0]
        assert sum(1 for o in orders if o.answers.get(str(question.id))) >= 12
        # Nobody is mailed today for a registration made weeks ago.
        assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 0
        upcoming = db.session.scalar(select(db.func.count()).select_from(Order).where(Order.event_id != past.id))
        assert upcoming == 0

    # The organizer sees them on the registrations page, with the chart.
    client = app.test_client()
    login(client, "demo@eventsite.local", "demo-password-2026")
    listing = text_of(client.get(f"/organizer/events/{past.slug}/registrations").data)
    assert "22 sold of 24 · 18 checked in" in listing
    assert "Wen Zhao" in listing
    chart = client.get(f"/organizer/events/{past.slug}/registrations/chart").get_data(as_text=True)
    assert "22 tickets registered from" in chart


def test_seed_demo_fills_in_what_is_missing(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        db.session.delete(db.session.scalar(select(Event).where(Event.slug == "leadership-breakfast-negotiating-your-worth")))
        db.session.commit()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0 and "Leadership Breakfast" in result.output.split("\n")[0]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Event)) == 3
        assert db.session.scalar(select(db.func.count()).select_from(User)) == 1


def test_the_paid_demo_event_has_a_refund_policy_and_terms(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        evening = db.session.scalar(select(Event).where(Event.slug == "women-in-leadership-evening"))
        assert any(t.price_cents > 0 for t in evening.ticket_types)
        assert evening.refund_until_days_before == 7
        assert evening.terms_url.startswith("https://")
        terms_url = evening.terms_url
    # A visitor reads the policy next to the tickets and is asked to agree to the terms.
    page = app.test_client().get("/events/women-in-leadership-evening").get_data(as_text=True)
    assert "Refunds: full refund if you cancel by" in page and "(7 days before the start)" in page
    assert 'name="consent"' in page and f'href="{terms_url}"' in page
    # Seeding again keeps them (and changes nothing else: see test_seed_demo_twice_changes_nothing).
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        again = db.session.scalar(select(Event).where(Event.slug == "women-in-leadership-evening"))
        assert (again.refund_until_days_before, again.terms_url) == (7, terms_url)


PAST_SLUG = "mentoring-circle-finding-your-first-board-seat"


def test_the_demo_events_have_tags_and_the_registration_form_offers_them(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        tags = {e.slug: db.session.get(ConnectionSettings, e.id).tags for e in db.session.scalars(select(Event))}
    assert all(len(t) >= 7 for t in tags.values()), tags
    assert "Board governance" in tags[PAST_SLUG] and "Negotiation" in tags["women-in-leadership-evening"]
    page = app.test_client().get("/events/women-in-leadership-evening").get_data(as_text=True)
    assert 'name="networking-offers"' in page and 'value="Board governance"' in page
    assert 'name="networking-consent"' in page


def test_the_past_demo_event_gets_its_day_after_follow_ups_when_the_worker_runs(app, runner, mailbox):
    result = runner.invoke(args=["seed-demo"])
    assert "20 networking profiles for “Mentoring Circle: Finding Your First Board Seat”" in result.output
    with app.app_context():
        past = db.session.scalar(select(Event).where(Event.slug == PAST_SLUG))
        profiles = db.session.scalars(select(NetworkingProfile).where(NetworkingProfile.event_id == past.id)).all()
        checked_in = set(db.session.scalars(select(Ticket.attendee_email).join(Order).where(
            Order.event_id == past.id, Ticket.checked_in_at.is_not(None))))
        consenting = {p.email for p in profiles if p.consent_to_suggest}
        silent = {p.name for p in profiles if not p.consent_to_suggest}
        assert len(silent) == 2 and len(consenting) == 18
        expected = consenting & checked_in
        assert len(expected) == 16  # two consenting attendees never came through the door

        report = run_due_tasks(utcnow())
        assert not report.errors and report.results["connections.send_follow_ups"] == 16
        # The worker writes each follow-up (deferred rendering) and delivers it.
        assert deliver_batch().sent == 16
        db.session.expire_all()
        messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.key.like("followup:day_after:%"))).all()
        assert {m.to_addr.split("<")[-1].rstrip(">") for m in messages} == expected
        assert {r for m in mailbox.messages for r in m.rcpt_tos} == expected
        names = {p.name for p in profiles}
        for m in messages:
            assert m.subject == f"People worth keeping in touch with from {past.title}"
            reasons = [line for line in m.text_body.splitlines() if line.strip().startswith("Why:")]
            assert reasons, m.text_body
            recipient = next(p.name for p in profiles if p.email in m.to_addr)
            assert any(n in m.text_body for n in names - {recipient})  # at least one suggested person
            assert any(" can help with " in r or " is looking for " in r or "share an interest" in r for r in reasons)
            assert "/keep-in-touch/introduce/" in m.text_body
            assert not any(n in m.text_body for n in silent)  # nobody is shown without her consent
        assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 16

    # Seeding again and running the worker again adds nothing.
    again = runner.invoke(args=["seed-demo"])
    assert "nothing changed" in again.output
    with app.app_context():
        run_due_tasks(utcnow())
        assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 16
