"""The follow-up planning scenario at small scale: the seeded event, the step run in its own process
(on the suite's database), and the checks: one day-after email per eligible attendee, none twice."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select

from bench.scenarios.followup_planning import FollowupPlanning
from eventsite.connections.models import FollowUpRun, NetworkingProfile, Suggestion
from eventsite.core.db import utcnow
from eventsite.core.mail.models import OutboxMessage
from eventsite.events.models import Event
from eventsite.registration.models import Order, Ticket
from tests.bench.conftest import AppEnvironment


def failed(result) -> list[str]:
    return [f"{c.name}: {c.detail}" for c in result.checks if not c.ok]


def test_the_day_after_step_queues_one_email_per_eligible_attendee_once(app):
    env = AppEnvironment(app)
    scenario = FollowupPlanning(50)
    spec = scenario.prepare(env, 1)
    with env.app_context() as db:
        event = db.session.get(Event, spec["event_id"])
        assert utcnow() - timedelta(days=2) < event.ends_at < utcnow()  # it ended yesterday
        tickets = db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.event_id == event.id))
        profiles = db.session.scalar(select(func.count()).select_from(NetworkingProfile).where(
            NetworkingProfile.event_id == event.id))
        assert (tickets, profiles, len(spec["eligible"])) == (60, 55, 50)  # 50 eligible, 10 without a profile ...
        assert db.session.scalar(select(func.count()).select_from(Order).where(
            Order.event_id == event.id, Order.status == "confirmed")) == 60
        offers = [p.offers for p in db.session.scalars(select(NetworkingProfile).where(NetworkingProfile.event_id == event.id))]
        assert all(1 <= len(o) <= 3 for o in offers)
    outcome = scenario.run(env, spec)
    result = scenario.evaluate(env, spec, outcome)

    assert failed(result) == []
    assert result.figures["emails"] == 50
    assert result.figures["suggestions"] >= 50
    assert 0 < result.figures["step_s"] < 60 and result.figures["peak_rss_mb"] > 20
    assert outcome["second"]["answer"]["queued"] == 0

    # The checks would catch an attendee left out.
    with env.app_context() as db:
        db.session.execute(delete(OutboxMessage).where(OutboxMessage.key == f"followup:day_after:{spec['eligible'][0]}"))
        db.session.commit()
    names = {c.name for c in scenario.evaluate(env, spec, outcome).checks if not c.ok}
    assert names == {"one day-after email per eligible attendee (50), none for anyone else"}

    # The next run reuses the event: it first undoes everything the step wrote (the tampered outbox
    # included), then the step does the same work again and every check holds.
    again = scenario.prepare(env, 2)
    assert (again["event_id"], again["eligible"]) == (spec["event_id"], spec["eligible"])
    with env.app_context() as db:
        assert db.session.scalar(select(func.count()).select_from(Suggestion).where(
            Suggestion.event_id == spec["event_id"])) == 0
        assert db.session.scalar(select(func.count()).select_from(FollowUpRun).where(
            FollowUpRun.event_id == spec["event_id"])) == 0
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.key.like("followup:%"))) == 0
        assert again["outbox_before"] == db.session.scalar(select(func.count()).select_from(OutboxMessage))
    second = scenario.evaluate(env, again, scenario.run(env, again))
    assert failed(second) == []
    assert (second.figures["emails"], second.figures["suggestions"]) == (50, result.figures["suggestions"])
