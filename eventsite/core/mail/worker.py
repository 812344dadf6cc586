"""The delivery worker: claim due outbox rows, send them, mark them sent, retry with backoff.

A row is *due* when it is pending, its next_attempt_at has come and no live lease covers it
(claimed_until is null or past). A worker claims a batch by setting claimed_until = now + lease and
commits, then sends each message over one connection and commits the outcome of each message on its
own, so a crash re-sends at most the one message in flight (OUTBOX_SENT_FLUSH > 1 marks sent ones in
groups, one UPDATE per group, and a crash may then re-send a whole group). On PostgreSQL the "sent"
commit does not wait for the WAL flush (synchronous_commit off for that transaction only): a worker
crash loses nothing, and a database crash at worst forgets a few marks, whose messages go out once
more under the same Message-ID, which at-least-once delivery allows anyway. On
PostgreSQL the claim selects with FOR UPDATE SKIP LOCKED, so concurrent workers take disjoint
batches; on SQLite (one writer at a time) the claim is a single UPDATE ... WHERE id IN
(due ids) RETURNING id, which is atomic. A worker that dies keeps its rows only until the lease
lapses; then another worker takes them back. Delivery is therefore at-least-once, and every attempt
carries the same Message-ID so receivers can recognise a repeat.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import or_, select, text, update

from eventsite.core.db import is_postgres, utcnow
from eventsite.core.mail.backends import ConnectError, DeliveryError, backend_for_app
from eventsite.core.mail.deferred import NothingToSend, materialize, prepare
from eventsite.core.mail.message import Envelope, build_message
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.tasks import run_due_tasks
from eventsite.extensions import db

log = logging.getLogger(__name__)

DEFAULT_BATCH = 100
SENT_FLUSH = 1  # sent messages marked per UPDATE (config OUTBOX_SENT_FLUSH); see _mark_sent_many
BACKOFF_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0  # attempts that failed in this run (retried later, or given up)
    gave_up: int = 0  # of those, messages now marked failed for good
    released: int = 0  # claimed but handed back unsent (stop requested, lease running out)

    def __iadd__(self, other: "DeliveryReport") -> "DeliveryReport":
        self.claimed += other.claimed
        self.sent += other.sent
        self.failed += other.failed
        self.gave_up += other.gave_up
        self.released += other.released
        return self


@dataclass
class _Job:
    id: int
    key: str
    attempts: int
    message: object | None = None
    envelope: Envelope | None = None
    error: str | None = None
    permanent: bool = False  # the error will not go away by trying again


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed ones: 30 s, 60 s, 120 s ... capped at 1 hour."""
    cfg = current_app.config
    base = cfg.get("OUTBOX_BACKOFF_SECONDS", BACKOFF_SECONDS)
    cap = cfg.get("OUTBOX_BACKOFF_MAX_SECONDS", BACKOFF_MAX_SECONDS)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


def _due(now: datetime):
    return (
        (OutboxMessage.status == OutboxStatus.PENDING)
        & (OutboxMessage.next_attempt_at <= now)
        & or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now)
    )


def claim_due(batch: int, now: datetime) -> list[int]:
    """Lease up to `batch` due rows to this worker and commit; return their ids."""
    until = now + timedelta(seconds=current_app.config.get("OUTBOX_LEASE_SECONDS", 120))
    due_ids = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
    if is_postgres(db.session):
        ids = list(db.session.scalars(due_ids.limit(batch).with_for_update(skip_locked=True)))
        if ids:
            db.session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(claimed_until=until),
                execution_options={"synchronize_session": False},
            )
    else:
        ids = list(
            db.session.scalars(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(due_ids.limit(batch).scalar_subquery()))
                .values(claimed_until=until)
                .returning(OutboxMessage.id),
                execution_options={"synchronize_session": False},
            )
        )
    db.session.commit()
    return sorted(ids)


def _load_jobs(ids: list[int]) -> list[_Job]:
    sender = current_app.config.get("EVENTSITE_MAIL_FROM") or "eventsite <no-reply@eventsite.local>"
    jobs = []
    rendered = 0
    rows = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)))
    prepared = prepare(rows)  # what the deferred rows' renderers need, in a few queries (kept until rendered)
    for row in rows:
        job = _Job(id=row.id, key=row.key, attempts=row.attempts)
        try:
            if row.renderer:  # content made now, kept in the row before the first attempt
                # A savepoint on the connection, without flushing: a renderer's failing query cannot
                # spoil the batch, and the rendered rows are written together at the commit below.
                with db.session.no_autoflush, db.session.connection().begin_nested():
                    rendered += materialize(row)
            job.message, job.envelope = build_message(row, sender=sender)
        except NothingToSend as e:
            job.error, job.permanent = f"nothing to send: {e}", True
        except Exception as e:  # noqa: BLE001 - a broken row is recorded on the row, not fatal
            job.error = f"cannot build the message: {type(e).__name__}: {e}"
        jobs.append(job)
    del prepared
    if rendered:
        db.session.commit()  # every later attempt sends exactly these bytes
    else:
        db.session.rollback()  # end the read transaction; rows are not used past this point
    return jobs


def _mark_sent_many(jobs: list[_Job], now: datetime) -> None:
    """Mark these sent in one UPDATE and commit, and empty the list. A crash before this leaves them
    pending under the lease, so they are sent again when it lapses (at least once, same Message-ID):
    at most OUTBOX_SENT_FLUSH messages (default 1: the message in flight only)."""
    if not jobs:
        return
    if is_postgres(db.session):
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))  # see the module doc
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([j.id for j in jobs]))
        .values(status=OutboxStatus.SENT, sent_at=now, claimed_until=None, last_error=None),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    jobs.clear()


def _mark_failed(job: _Job, error: str, now: datetime, *, permanent: bool, report: DeliveryReport) -> None:
    attempts = job.attempts + 1
    max_attempts = current_app.config.get("OUTBOX_MAX_ATTEMPTS", 8)
    error = error[:2000]
    report.failed += 1
    if permanent or attempts >= max_attempts:
        values = dict(status=OutboxStatus.FAILED, attempts=attempts, claimed_until=None, last_error=error)
        report.gave_up += 1
        log.error(
            "outbox: GAVE UP on message %s (key %s) after %d attempt%s%s: %s",
            job.id, job.key, attempts, "" if attempts == 1 else "s",
            " (permanent error)" if permanent and attempts < max_attempts else "", error,
        )
    else:
        retry_at = now + backoff(attempts)
        values = dict(attempts=attempts, claimed_until=None, last_error=error, next_attempt_at=retry_at)
        log.warning(
            "outbox: message %s (key %s) attempt %d failed, retrying at %s: %s",
            job.id, job.key, attempts, retry_at.isoformat(timespec="seconds"), error,
        )
    db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == job.id).values(**values),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()


def _release(jobs: list[_Job]) -> None:
    if not jobs:
        return
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([j.id for j in jobs]), OutboxMessage.status == OutboxStatus.PENDING)
        .values(claimed_until=None),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()


def deliver_batch(
    batch: int = DEFAULT_BATCH, now: datetime | None = None, *, stop: Callable[[], bool] | None = None
) -> DeliveryReport:
    """Claim up to `batch` due messages, send them over one connection, record each outcome.

    Uses and commits the current session (anything pending in it is committed first). `now`
    fixes the clock (tests); `stop()` is checked between messages: when it answers True the rest of
    the batch is handed back at once for another worker. Raises MailConfigError when
    EVENTSITE_MAIL_URL cannot be used.
    """
    app = current_app._get_current_object()
    backend = backend_for_app(app)
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    report = DeliveryReport()
    # Start from a fresh transaction: on SQLite a claim inside an older read snapshot could fail
    # with "database is locked" instead of waiting for the writer lock.
    db.session.commit()
    ids = claim_due(batch, clock())
    if not ids:
        return report
    report.claimed = len(ids)
    started = time.monotonic()
    # Stop sending well before the lease lapses, so no other worker takes back a row mid-send.
    budget = 0.75 * app.config.get("OUTBOX_LEASE_SECONDS", 120)
    jobs = _load_jobs(ids)
    connection = backend.open()
    sent: list[_Job] = []  # sent, not yet marked: one UPDATE and commit per SENT_FLUSH of them
    try:
        for index, job in enumerate(jobs):
            if (stop and stop()) or time.monotonic() - started > budget:
                _mark_sent_many(sent, clock())  # before the release, which would hand them out again
                _release(jobs[index:])
                report.released += len(jobs) - index
                break
            if job.error:
                _mark_failed(job, job.error, clock(), permanent=job.permanent, report=report)
                continue
            try:
                connection.send(job.message, job.envelope.from_addr, job.envelope.to_addrs)
            except ConnectError as e:
                # The server cannot be reached: the whole rest of the batch fails the same way,
                # without waiting for a connection timeout once per message.
                for rest in jobs[index:]:
                    _mark_failed(rest, str(e), clock(), permanent=False, report=report)
                break
            except DeliveryError as e:
                _mark_failed(job, str(e), clock(), permanent=e.permanent, report=report)
                continue
            except Exception as e:  # noqa: BLE001 - any other failure is one failed attempt
                _mark_failed(job, f"{type(e).__name__}: {e}", clock(), permanent=False, report=report)
                continue
            sent.append(job)
            if len(sent) >= current_app.config.get("OUTBOX_SENT_FLUSH", SENT_FLUSH):
                _mark_sent_many(sent, clock())
            report.sent += 1
            log.debug("outbox: sent message %s (key %s)", job.id, job.key)
    finally:
        try:
            _mark_sent_many(sent, clock())
        finally:
            connection.close()
    if report.sent or report.failed:
        log.info("outbox: sent %d, failed %d (gave up %d) via %s", report.sent, report.failed, report.gave_up, backend.url)
    return report


def deliver_due(batch: int = DEFAULT_BATCH, now: datetime | None = None, *, stop: Callable[[], bool] | None = None) -> int:
    """Deliver one batch of due messages; return how many were sent. See deliver_batch()."""
    return deliver_batch(batch=batch, now=now, stop=stop).sent


# --- the worker process ------------------------------------------------------------------------

@dataclass
class RunReport:
    delivery: DeliveryReport
    tasks_ran: int
    task_errors: list[str]

    def summary(self) -> str:
        line = f"sent {self.delivery.sent}, failed {self.delivery.failed}"
        if self.delivery.gave_up:
            line += f" (gave up on {self.delivery.gave_up})"
        line += f"; tasks run {self.tasks_ran}"
        if self.task_errors:
            line += f", task errors: {', '.join(self.task_errors)}"
        return line


def run_once(*, batch: int = DEFAULT_BATCH, now: datetime | None = None) -> RunReport:
    """Run the periodic tasks, then deliver everything that is due now (`worker --once`)."""
    tasks = run_due_tasks(now)
    total = DeliveryReport()
    while True:
        report = deliver_batch(batch=batch, now=now)
        total += report
        if report.claimed < batch:
            break
    return RunReport(total, tasks.ran, tasks.errors)


def run_forever(stop: threading.Event, *, batch: int = DEFAULT_BATCH) -> DeliveryReport:
    """The `worker` loop: tasks, delivery, and a nap when idle, until `stop` is set.

    `stop` is checked between messages, so a shutdown finishes the message being sent and hands the
    rest of its batch back. Database or mail-server trouble is logged and retried after a pause.
    """
    poll = float(current_app.config.get("WORKER_POLL_SECONDS", 2.0))
    backend_for_app(current_app)  # a bad EVENTSITE_MAIL_URL stops the worker at startup, clearly
    total = DeliveryReport()
    last_tasks = float("-inf")
    while not stop.is_set():
        try:
            if time.monotonic() - last_tasks >= poll:
                run_due_tasks()
                last_tasks = time.monotonic()
            report = deliver_batch(batch=batch, stop=stop.is_set)
        except Exception:  # noqa: BLE001 - the worker outlives a database restart
            log.exception("worker: this round failed; trying again in %.0f s", poll)
            db.session.rollback()
            db.session.remove()
            stop.wait(poll)
            continue
        total += report
        if report.claimed == 0:
            stop.wait(poll)
    return total
