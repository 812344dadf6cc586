"""What the organizer sees on the Follow-up tab: the plan's steps with their state, and the outcome
in numbers. Aggregates only: no profile, name or email of an attendee appears here."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from eventsite.connections.models import (
    STEPS,
    ConnectionSettings,
    FollowUpRun,
    Introduction,
    IntroductionStatus,
    NetworkingProfile,
    Outcome,
    RunStatus,
    Step,
)
from eventsite.connections.plan import schedule, step_state
from eventsite.events.models import Event
from eventsite.extensions import db


@dataclass(frozen=True)
class StepRow:
    step: Step
    on: bool
    days: int
    due_at: datetime | None
    state: str  # off, waiting, due, late, sending, done, skipped
    queued: int


@dataclass(frozen=True)
class Figures:
    profiles: int
    consenting: int
    unsubscribed: int
    emails_sent: int
    requested: int  # introductions asked for (every state)
    made: int
    lapsed: int
    open: int
    meetings: int  # introductions where at least one side reported a meeting
    useful: int  # ... and found it useful


def step_rows(event: Event, settings: ConnectionSettings, now: datetime) -> list[StepRow]:
    runs = {r.step: r for r in db.session.scalars(select(FollowUpRun).where(FollowUpRun.event_id == event.id))}
    timings = {t.step: t for t in schedule(event.ends_at, event.timezone, settings)}
    rows = []
    for step in STEPS:
        run = runs.get(step)
        timing = timings.get(step)
        if run is not None:
            state = {RunStatus.DONE: "done", RunStatus.SKIPPED: "skipped"}.get(run.status, "sending")
        elif not settings.enabled or timing is None:
            state = "off"
        else:
            state = step_state(timing, now)
        rows.append(StepRow(step, settings.step_on(step), settings.step_days(step),
                            run.due_at if run is not None else (timing.due_at if timing else None),
                            state, run.queued if run is not None else 0))
    return rows


def outcome_figures(event: Event) -> Figures:
    p = NetworkingProfile
    profiles, consenting, unsubscribed = db.session.execute(
        select(func.count(p.id),
               func.count(p.id).filter(p.consent_to_suggest.is_(True)),
               func.count(p.id).filter(p.unsubscribed_at.is_not(None)))
        .where(p.event_id == event.id)
    ).one()
    emails_sent = db.session.scalar(select(func.coalesce(func.sum(FollowUpRun.queued), 0))
                                    .where(FollowUpRun.event_id == event.id)) or 0
    i = Introduction
    counts = dict(db.session.execute(
        select(i.status, func.count(i.id)).where(i.event_id == event.id).group_by(i.status)).all())
    met = (Outcome.MET, Outcome.USEFUL)
    meetings = db.session.scalar(select(func.count(i.id)).where(
        i.event_id == event.id, or_(i.first_outcome.in_(met), i.second_outcome.in_(met)))) or 0
    useful = db.session.scalar(select(func.count(i.id)).where(
        i.event_id == event.id, or_(i.first_outcome == Outcome.USEFUL, i.second_outcome == Outcome.USEFUL))) or 0
    return Figures(
        profiles=profiles or 0, consenting=consenting or 0, unsubscribed=unsubscribed or 0,
        emails_sent=int(emails_sent), requested=sum(counts.values()),
        made=counts.get(IntroductionStatus.MADE, 0), lapsed=counts.get(IntroductionStatus.LAPSED, 0),
        open=counts.get(IntroductionStatus.REQUESTED, 0), meetings=meetings, useful=useful,
    )
