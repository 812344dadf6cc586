"""The mail worker survives being killed: SIGKILL at random moments, stuck leases, SIGTERM.

The real worker process (`flask --app eventsite worker`) sends to a real SMTP server on loopback
(aiosmtpd). Delivery is at-least-once: a worker killed after the server accepted a message but
before it recorded "sent" sends that one message again after its lease lapses; nothing else is
ever lost or repeated.
"""
from __future__ import annotations

import os
import random
import time
from collections import defaultdict

from eventsite.core.db import utcnow
from eventsite.core.mail.models import OutboxStatus
from eventsite.core.mail.worker import claim_due
from eventsite.extensions import db
from tests.reliability.conftest import outbox_rows, queue_emails, received, wait_until

EMAILS = 500
CRASHES = 20
LEASE = 2.0  # seconds: short, so that the claims of a killed worker come back quickly


def _stranded(app) -> int:
    """Pending rows still leased to a worker (after a SIGKILL: the dead worker's claims)."""
    now = utcnow()
    return sum(
        1 for r in outbox_rows(app)
        if r.status == OutboxStatus.PENDING and r.claimed_until is not None and r.claimed_until > now
    )


def _all_sent(app) -> bool:
    return all(r.status == OutboxStatus.SENT for r in outbox_rows(app))


def test_sigkill_at_random_moments_loses_nothing_and_repeats_at_most_one_per_crash(app, mailbox, fork_worker, start_worker):
    seed = int(os.environ.get("EVENTSITE_CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    queue_emails(app, EMAILS)
    stranded_after_kills = []
    began = time.monotonic()
    for crash in range(CRASHES):
        # Restarted at once, as a supervisor would (forked from a launcher that has the app loaded).
        worker = fork_worker(mailbox.url, lease=LEASE, batch=50)
        before = len(received(mailbox))
        if rng.random() < 0.2:
            # Anywhere: while it starts, claims, loads a batch or sends.
            time.sleep(rng.uniform(0.05, 0.3))
        else:
            # In the middle of delivery: after a few more messages arrived, plus a little jitter
            # (during an SMTP exchange, or between the server's 250 and the "sent" commit). A fast
            # machine may have sent everything before the last kills: then there is nothing to wait for.
            target = before + rng.randint(1, 20)
            arrived = wait_until(lambda: len(received(mailbox)) >= target or not worker.alive() or _all_sent(app),
                                 timeout=30, interval=0.05)
            pending = sum(1 for r in outbox_rows(app) if r.status == OutboxStatus.PENDING)
            assert arrived and worker.alive(), (
                f"crash {crash} (seed {seed}): worker stalled or died ({len(received(mailbox))} arrived, "
                f"waiting for {target}; {pending} still pending):\n{worker.log()}")
            time.sleep(rng.uniform(0, 0.02))
        assert worker.alive(), f"crash {crash} (seed {seed}): the worker exited on its own:\n{worker.log()}"
        worker.kill()
        stranded_after_kills.append(_stranded(app))

    crashes_took, arrived_during_crashes = time.monotonic() - began, len(received(mailbox))
    # A last worker, never killed, finishes the job once the dead workers' leases lapse.
    worker = start_worker(mailbox.url, lease=LEASE, batch=50)
    # Ready (its SIGTERM handler installed) before anything may stop it: everything may be sent already.
    assert wait_until(lambda: "sending mail via" in worker.log(), timeout=60, interval=0.05), worker.log()

    everyone = {f"p{i}@example.org" for i in range(EMAILS)}
    assert wait_until(lambda: {m.rcpt_tos[0] for m in received(mailbox)} >= everyone, timeout=45, interval=0.05), (
        f"seed {seed}: not everything arrived:\n{worker.log()}")
    assert wait_until(lambda: all(r.status == OutboxStatus.SENT for r in outbox_rows(app)), timeout=10, interval=0.1)
    assert worker.terminate() == 0, worker.log()

    rows = outbox_rows(app)
    copies: dict[str, list] = defaultdict(list)
    for mail in received(mailbox):
        (recipient,) = mail.rcpt_tos
        copies[recipient].append(mail.message)
    # Every email arrived: none lost.
    assert sorted(copies) == sorted(r.to_addr for r in rows) and len(rows) == EMAILS
    # Duplicates: at most one per crash (the message in flight when the worker died).
    duplicates = sum(len(c) - 1 for c in copies.values())
    assert duplicates <= CRASHES, f"seed {seed}: {duplicates} duplicates after {CRASHES} crashes"
    # A repeat is the same message: same Message-ID as the first copy and as the outbox row.
    by_recipient = {r.to_addr: r for r in rows}
    for recipient, messages in copies.items():
        assert {m["Message-ID"] for m in messages} == {by_recipient[recipient].message_id}, recipient
    # The kills really left claims behind (the lease-expiry path was exercised).
    assert sum(stranded_after_kills) > 0, stranded_after_kills
    print(f"\nseed {seed}: {EMAILS} emails, {CRASHES} SIGKILLs in {crashes_took:.1f} s "
          f"({arrived_during_crashes} arrived meanwhile), {duplicates} duplicates, "
          f"stranded claims after each kill: {stranded_after_kills}")


def test_a_dead_workers_claims_are_taken_back_only_after_the_lease(app, mailbox, start_worker, monkeypatch):
    lease = 3.0
    queue_emails(app, 5, prefix="stuck")
    with app.app_context():
        # A worker claimed these five and died without a trace (no release, no "sent").
        monkeypatch.setitem(app.config, "OUTBOX_LEASE_SECONDS", lease)
        claimed = claim_due(100, utcnow())
        lapses = time.monotonic() + lease
        db.session.remove()
    assert len(claimed) == 5
    queue_emails(app, 1, prefix="fresh")  # not claimed: a live worker sends it at once

    worker = start_worker(mailbox.url, lease=lease)
    assert wait_until(lambda: len(received(mailbox)) >= 1, timeout=20), worker.log()
    last_seen_only_fresh = time.monotonic()
    while len(received(mailbox)) == 1 and time.monotonic() < lapses + 20:
        last_seen_only_fresh = time.monotonic()
        time.sleep(0.01)
    assert wait_until(lambda: len(received(mailbox)) == 6, timeout=20), worker.log()
    assert worker.terminate() == 0

    first, *rest = received(mailbox)
    assert first.rcpt_tos == ["p0@example.org"] and first.message["Subject"] == "Message 0"  # the fresh one
    assert sorted(m.rcpt_tos[0] for m in rest) == [f"p{i}@example.org" for i in range(5)]
    # The stuck claims stayed untouched while the lease was live, with the worker polling meanwhile.
    assert last_seen_only_fresh >= lapses - 0.25, f"taken back {lapses - last_seen_only_fresh:.2f} s early"
    assert all(r.status == OutboxStatus.SENT for r in outbox_rows(app))


def test_sigterm_lets_the_message_being_sent_finish(app, slow_smtp, start_worker):
    queue_emails(app, 3, prefix="term")
    worker = start_worker(slow_smtp.url, lease=30)
    assert slow_smtp.entered.wait(20), worker.log()  # the first message is in the server's hands
    started = time.monotonic()
    assert worker.terminate() == 0, worker.log()
    # It waited for the slow server to accept the message (1.5 s) instead of dying mid-message.
    assert time.monotonic() - started > 1.0
    assert len(slow_smtp.messages) == 1
    assert "worker: stopped (sent 1, failed 0)" in worker.log()
    first, *rest = outbox_rows(app)
    assert first.status == OutboxStatus.SENT and first.sent_at is not None and first.claimed_until is None
    # The rest of its batch is handed back at once, for the next worker (not stuck until the lease).
    assert [(r.status, r.claimed_until, r.attempts) for r in rest] == [(OutboxStatus.PENDING, None, 0)] * 2
    assert first.message_id.strip("<>") in slow_smtp.messages[0].decode()
