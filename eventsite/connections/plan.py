"""The follow-up plan, run by the worker (`connections.send_follow_ups`, every poll).

## When a step is due

A step of `days` days is due at `send_hour` (10:00 by default) local time, in the event's own IANA
zone, on the local date the event ended plus `days` (`schedule()`; never before the event's end). A
step that fell due while the worker was down still goes out once, when the worker runs again. It is
skipped, and recorded as skipped, when it is so late that it no longer makes sense: the next enabled
step is due already, or, for the last step, `LAST_STEP_GRACE` (30 days) has passed.

## Running a step, safely twice and after a crash

1. **Plan** (one transaction): a `FollowUpRun` row (unique per event and step) is inserted, the
   matching runs over the eligible consenting attendees, and every suggestion is stored
   (`Suggestion`, the history later rounds subtract; `suggestions.plan_step`). Two workers at once
   meet on the unique row (PostgreSQL makes the second insert wait for the first commit, then it
   fails and that worker moves on); a crash rolls the whole plan back and the next poll plans again.
2. **Queue** (batches of `BATCH` attendees, a commit each): the batch's ids are claimed by moving
   the run's `cursor` with a conditional UPDATE (`WHERE cursor = :seen`), then each attendee's email
   is queued with the outbox key `followup:<step>:<profile id>` as a *deferred* row
   (core/mail/deferred.py): her profile id, the event, the step, the ids of the people and
   introductions it shows, and the plan's clock, written with one bulk INSERT per batch. The
   delivery worker renders it when it sends it (`emails._followup_content`), so the step itself
   renders nothing: 10,000 emails are a few statements here and spread over the workers. A batch
   that is rolled back leaves the cursor where it was; a key that exists already is never queued
   again. So running it twice, or after a crash at any point, sends nothing twice.

The task commits after the plan and after each batch (the task registry's contract is "flush only";
this job deliberately commits more often so that SQLite's single writer lock is held for one batch,
not for a 10,000-person round), and stops after `TIME_BUDGET_SECONDS`; the next poll continues.

## Who gets an email

Eligible: a profile with consent, not unsubscribed, whose ticket is valid in a confirmed order, and,
when the plan's audience is "checked-in attendees" (the default), whose ticket was checked in. The
same set is matched. Eligibility and consent are checked again when each email is queued and again
when the worker renders it, for her and for every person the email shows: someone who withdrew
consent, unsubscribed or was deleted in between is left out, and if that is her (or nobody is left
to show) nothing is sent and the outbox row is marked failed with "nothing to send: ...". An attendee
with nothing to show (no suggestion, no introduction) gets no email.
"""
from __future__ import annotations

import logging
import time as _time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from eventsite.connections import emails
from eventsite.connections.event_settings import STEP_DAYS_MAX, settings_for
from eventsite.connections.models import (
    STEPS,
    ConnectionSettings,
    FollowUpRun,
    Introduction,
    IntroductionStatus,
    NetworkingProfile,
    RunStatus,
    Step,
    Suggestion,
)
from eventsite.connections.suggestions import eligible_query, plan_step
from eventsite.core.db import among, begin_write
from eventsite.core.mail.deferred import enqueue_deferred_many
from eventsite.core.mail.models import OutboxMessage
from eventsite.events.models import Event, EventStatus
from eventsite.extensions import db
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus

log = logging.getLogger(__name__)

LAST_STEP_GRACE = timedelta(days=30)
BATCH = 500  # attendees per queueing transaction: small deferred rows, about 0.1-0.2 s of writer lock each
TIME_BUDGET_SECONDS = 50.0
LOOKBACK = timedelta(days=STEP_DAYS_MAX + 31)


@dataclass(frozen=True)
class StepTiming:
    step: Step
    days: int
    due_at: datetime  # UTC
    expires_at: datetime  # UTC: from then on the step is skipped


def schedule(ends_at: datetime, zone_name: str, settings: ConnectionSettings) -> list[StepTiming]:
    """The enabled steps of the plan with when each is due and when it would be too late."""
    zone = ZoneInfo(zone_name)
    end_date = ends_at.astimezone(zone).date()
    dues: list[tuple[Step, int, datetime]] = []
    for step in STEPS:
        if not settings.step_on(step):
            continue
        days = settings.step_days(step)
        local = datetime.combine(end_date + timedelta(days=days), time(int(settings.send_hour)), tzinfo=zone)
        dues.append((step, days, max(local.astimezone(UTC), ends_at)))
    out = []
    for n, (step, days, due) in enumerate(dues):
        expires = dues[n + 1][2] if n + 1 < len(dues) else due + LAST_STEP_GRACE
        out.append(StepTiming(step, days, due, expires))
    return out


def step_state(timing: StepTiming, now: datetime) -> str:
    """"waiting", "due" or "late" (skip it)."""
    if now < timing.due_at:
        return "waiting"
    return "late" if now >= timing.expires_at else "due"


# --- the worker's task -----------------------------------------------------------------------------

def send_follow_ups(now: datetime) -> int:
    """For each event and step that is due: plan it, then queue its emails. Returns emails queued."""
    deadline = _time.monotonic() + float(current_app.config.get("CONNECTIONS_TIME_BUDGET_SECONDS", TIME_BUDGET_SECONDS))
    queued = 0
    for event_id in _events_to_check(now):
        if _time.monotonic() > deadline:
            break
        event = db.session.get(Event, event_id)
        if event is not None:
            queued += run_event(event, now, deadline=deadline)
    return queued


def _events_to_check(now: datetime) -> list[int]:
    settings = aliased(ConnectionSettings)
    query = (
        select(Event.id)
        .outerjoin(settings, settings.event_id == Event.id)
        .where(
            Event.status == EventStatus.PUBLISHED,
            Event.ends_at <= now,
            Event.ends_at >= now - LOOKBACK,
            or_(settings.event_id.is_(None), (settings.enabled.is_(True)) & settings.finished_at.is_(None)),
            exists().where(NetworkingProfile.event_id == Event.id),
        )
        .order_by(Event.ends_at, Event.id)
    )
    return list(db.session.scalars(query))


def run_event(event: Event, now: datetime, *, deadline: float | None = None) -> int:
    """Do what is due for one event now. Returns the number of emails queued."""
    deadline = deadline if deadline is not None else _time.monotonic() + TIME_BUDGET_SECONDS
    settings = settings_for(event)
    if not settings.enabled or event.status != EventStatus.PUBLISHED:
        return 0
    timings = schedule(event.ends_at, event.timezone, settings)
    queued = 0
    for timing in timings:
        run = _run_for(event.id, timing.step)
        if run is not None and run.status in (RunStatus.DONE, RunStatus.SKIPPED):
            continue
        state = step_state(timing, now)
        if state == "waiting":
            break
        if run is None:
            if state == "late":
                _record_skipped(event, timing, now)
                continue
            run = _plan(event, settings, timing, now)
            if run is None:
                continue  # another worker is planning it
        while run.status in (RunStatus.PLANNED, RunStatus.QUEUING):
            if _time.monotonic() > deadline:
                return queued
            done = queue_batch(run, event, settings, now)
            if done is None:
                break  # another worker took the batch; it carries on
            queued += done
    _mark_finished_if_done(event, settings, timings, now)
    return queued


def _run_for(event_id: int, step: Step) -> FollowUpRun | None:
    return db.session.scalar(
        select(FollowUpRun).where(FollowUpRun.event_id == event_id, FollowUpRun.step == step)
        .execution_options(populate_existing=True)
    )


def _start_writing() -> None:
    """End the read-only part and take SQLite's writer lock (no-op on PostgreSQL)."""
    db.session.commit()
    begin_write(db.session)


def _insert_run(event: Event, timing: StepTiming, status: RunStatus, now: datetime) -> FollowUpRun | None:
    run = FollowUpRun(event_id=event.id, step=timing.step, status=status, due_at=timing.due_at, started_at=now,
                      finished_at=now if status == RunStatus.SKIPPED else None, cursor=0)
    try:
        with db.session.begin_nested():
            db.session.add(run)
            db.session.flush()
    except IntegrityError:
        return None
    return run


def _record_skipped(event: Event, timing: StepTiming, now: datetime) -> None:
    _start_writing()
    if _insert_run(event, timing, RunStatus.SKIPPED, now) is not None:
        log.info("follow-up %s of event %s skipped: due %s, the next step was already due",
                 timing.step.value, event.id, timing.due_at.isoformat())
    db.session.commit()


def _plan(event: Event, settings: ConnectionSettings, timing: StepTiming, now: datetime) -> FollowUpRun | None:
    _start_writing()
    run = _insert_run(event, timing, RunStatus.PLANNED, now)
    if run is None:
        db.session.rollback()
        return None
    planned, made = plan_step(event, timing.step, settings, now)
    run.planned = planned
    run.suggestions = made
    run.status = RunStatus.QUEUING
    db.session.commit()
    return _run_for(event.id, timing.step)


def _mark_finished_if_done(event: Event, settings: ConnectionSettings, timings: list[StepTiming], now: datetime) -> None:
    steps = {t.step for t in timings}
    finished = {r.step for r in db.session.scalars(select(FollowUpRun).where(
        FollowUpRun.event_id == event.id, FollowUpRun.status.in_((RunStatus.DONE, RunStatus.SKIPPED))))}
    if not steps <= finished:
        return
    _start_writing()
    row = db.session.get(ConnectionSettings, event.id)
    if row is None:
        row = ConnectionSettings.defaults_for(event)
        db.session.add(row)
    if row.finished_at is None:
        row.finished_at = now
    db.session.commit()


# --- queueing: one batch of emails -------------------------------------------------------------------

def queue_batch(run: FollowUpRun, event: Event, settings: ConnectionSettings, now: datetime) -> int | None:
    """Queue the next batch of the run's emails. Returns how many were queued (0 and the run done
    when nobody is left), or None when another worker claimed this batch first."""
    _start_writing()
    run = _run_for(event.id, run.step)
    if run is None or run.status not in (RunStatus.PLANNED, RunStatus.QUEUING):
        db.session.rollback()
        return None
    seen = run.cursor
    ids = list(db.session.scalars(
        eligible_query(event, settings, NetworkingProfile.id)
        .where(NetworkingProfile.id > seen).order_by(NetworkingProfile.id).limit(BATCH)))
    if not ids:
        run.status = RunStatus.DONE
        run.finished_at = now
        db.session.commit()
        return 0
    claimed = db.session.execute(
        update(FollowUpRun).where(FollowUpRun.id == run.id, FollowUpRun.cursor == seen).values(cursor=ids[-1]),
        execution_options={"synchronize_session": False},
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        return None
    queued = _queue_emails(run.step, event, ids, now)
    db.session.execute(
        update(FollowUpRun).where(FollowUpRun.id == run.id).values(queued=FollowUpRun.queued + queued),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    return queued


def _queue_emails(step: Step, event: Event, ids: list[int], now: datetime) -> int:
    """Queue the follow-ups of these attendees as deferred rows (ids only: the delivery worker
    renders each one, checking consent again). Returns how many were queued now."""
    batch = set(ids)
    suggestions: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pid, other, rank in db.session.execute(
        select(Suggestion.profile_id, Suggestion.suggested_id, Suggestion.rank)
        .where(Suggestion.step == step, among(Suggestion.profile_id, ids))
    ):
        suggestions[pid].append((rank, other))
    intros: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    if step != Step.DAY_AFTER:
        for intro_id, first, second in db.session.execute(
            select(Introduction.id, Introduction.first_id, Introduction.second_id).where(
                Introduction.status == IntroductionStatus.MADE,
                or_(among(Introduction.first_id, ids), among(Introduction.second_id, ids)))
            .order_by(Introduction.made_at, Introduction.id)
        ):
            for pid, other in ((first, second), (second, first)):
                if pid in batch:
                    intros[pid].append((intro_id, other))
    shown = _shown(batch | {o for pairs in suggestions.values() for _, o in pairs}
                   | {o for pairs in intros.values() for _, o in pairs} - {None})
    keys = [emails.followup_key(step, pid) for pid in ids]
    existing = set(db.session.scalars(select(OutboxMessage.key).where(among(OutboxMessage.key, keys))))
    outgoing = []
    for pid in ids:
        if pid not in shown or emails.followup_key(step, pid) in existing:
            continue
        suggested = [o for _, o in sorted(suggestions.get(pid, [])) if o in shown]
        met = [intro_id for intro_id, other in intros.get(pid, []) if other in shown]
        if not suggested and not met:
            continue
        name, address = shown[pid]
        try:
            outgoing.append(emails.followup_email(step, profile_id=pid, name=name, email=address, event=event,
                                                  suggested=suggested, introductions=met, now=now))
        except ValueError as e:  # her address cannot be used: skip her, not the whole batch (it would retry forever)
            _unusable(step, pid, e)
    # One INSERT per batch (ON CONFLICT on the key: a key queued meanwhile is kept, never doubled).
    return len(enqueue_deferred_many(
        outgoing, on_unusable=lambda email, e: _unusable(step, email.args["profile_id"], e)))


def _unusable(step: Step, profile_id: int, error: ValueError) -> None:
    log.warning("follow-up %s for profile %s not queued: %s", step.value, profile_id, error)


def _shown(ids: set[int]) -> dict[int, tuple[str, str]]:
    """(name, email) of those of `ids` who may be emailed and shown now (`profiles.can_be_shown`:
    consenting, not unsubscribed, a valid ticket in a confirmed order), in one query."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(NetworkingProfile.id, NetworkingProfile.name, NetworkingProfile.email)
        .join(Ticket, Ticket.id == NetworkingProfile.ticket_id)
        .join(Order, Order.id == Ticket.order_id)
        .where(
            among(NetworkingProfile.id, ids),
            NetworkingProfile.consent_to_suggest.is_(True),
            NetworkingProfile.unsubscribed_at.is_(None),
            Ticket.status == TicketStatus.VALID,
            Order.status == OrderStatus.CONFIRMED,
        )
    )
    return {pid: (name, email) for pid, name, email in rows}
