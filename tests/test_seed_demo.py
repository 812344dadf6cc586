"""flask --app eventsite seed-demo: the demo organizer and her events, idempotent."""
from __future__ import annotations

from sqlalchemy import select

from eventsite.accounts.models import Membership, Organization, User
from eventsite.accounts.services import verify_password
from eventsite.core.db import utcnow
from eventsite.events.models import Event, EventStatus, Question, QuestionKind, TicketType
from eventsite.extensions import db
from tests.conftest import login


def _snapshot() -> dict:
    """Every row the seed touches, column by column."""
    rows = {}
    for model in (User, Organization, Membership, Event, TicketType, Question):
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
