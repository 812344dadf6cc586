"""The delivery worker against real SMTP servers: claims, leases, retries, giving up, concurrency."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from eventsite.core.db import utcnow
from eventsite.core.mail import enqueue_email
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.mail.worker import claim_due, deliver_batch, deliver_due
from eventsite.extensions import db
from tests.conftest import free_port


def row(key: str) -> OutboxMessage:
    db.session.expire_all()
    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))


def queue_plain(n: int, prefix: str = "bulk") -> None:
    for i in range(n):
        enqueue_email(key=f"{prefix}:{i}", to=f"person{i}@example.org", subject=f"Hello {i}", text=f"Body {i}")
    db.session.commit()


def test_worker_delivers_the_whole_message_once(ctx, mailbox, rich_email):
    queued = rich_email.enqueue()
    db.session.commit()
    message_id = queued.message_id

    assert deliver_due() == 1

    [received] = mailbox.to("dana@example.org")
    assert received.mail_from == "no-reply@eventsite.local"
    msg = received.message
    assert msg["Message-ID"] == message_id
    assert msg["Subject"] == "Your ticket for Leadership Evening"
    assert msg["List-Unsubscribe"] == "<https://eventsite.test/u/abc>"
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == rich_email.text
    html = msg.get_body(("html",))
    assert '<img src="cid:qr-1@eventsite.test"' in html.get_content()
    [image] = [p for p in msg.walk() if p["Content-ID"] == "<qr-1@eventsite.test>"]
    assert image.get_payload(decode=True) == rich_email.png
    [ics] = list(msg.iter_attachments())
    assert ics.get_filename() == "event.ics" and ics.get_payload(decode=True) == rich_email.ics

    sent = row("confirmation:1")
    assert sent.status == OutboxStatus.SENT and sent.sent_at is not None and sent.claimed_until is None
    assert sent.attempts == 0 and sent.last_error is None

    assert deliver_due() == 0  # nothing is sent twice
    assert len(mailbox.messages) == 1


def test_nothing_is_sent_before_it_is_due(ctx, mailbox):
    later = utcnow() + timedelta(minutes=5)
    enqueue_email(key="later", to="dana@example.org", subject="Later", text="Later")
    db.session.execute(update(OutboxMessage).values(next_attempt_at=later))
    db.session.commit()
    assert deliver_due() == 0 and mailbox.messages == []
    assert deliver_due(now=later) == 1 and len(mailbox.messages) == 1


def test_one_connection_per_batch(ctx, app, monkeypatch, recording_smtp):
    monkeypatch.setitem(app.config, "EVENTSITE_MAIL_URL", recording_smtp.url)
    queue_plain(12)
    assert deliver_due(batch=50) == 12
    assert len(recording_smtp.messages) == 12
    assert len({m.peer for m in recording_smtp.messages}) == 1


def test_a_refused_recipient_fails_for_good_and_the_batch_goes_on(ctx, app, monkeypatch, recording_smtp, caplog):
    monkeypatch.setitem(app.config, "EVENTSITE_MAIL_URL", recording_smtp.url)
    enqueue_email(key="a", to="a@example.org", subject="A", text="A")
    enqueue_email(key="gone", to="nobody@refused.example", subject="Secret subject", text="Secret body")
    enqueue_email(key="c", to="c@example.org", subject="C", text="C")
    db.session.commit()
    with caplog.at_level(logging.ERROR):
        report = deliver_batch()
    assert (report.sent, report.failed, report.gave_up) == (2, 1, 1)
    assert sorted(m.rcpt_tos[0] for m in recording_smtp.messages) == ["a@example.org", "c@example.org"]
    assert len({m.peer for m in recording_smtp.messages}) == 1
    gone = row("gone")
    assert gone.status == OutboxStatus.FAILED and gone.attempts == 1 and "550" in gone.last_error
    assert "key gone" in caplog.text and "Secret body" not in caplog.text


def test_smtp_failure_retries_with_backoff_then_gives_up_loudly(ctx, app, monkeypatch, mailbox, caplog):
    monkeypatch.setitem(app.config, "EVENTSITE_MAIL_URL", f"smtp://127.0.0.1:{free_port()}")  # nobody listens
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 4)
    enqueue_email(key="welcome:9", to="dana@example.org", subject="Welcome", text="The secret body text")
    db.session.commit()
    t = utcnow()

    report = deliver_batch(now=t)
    assert (report.sent, report.failed, report.gave_up) == (0, 1, 0)
    first = row("welcome:9")
    assert first.status == OutboxStatus.PENDING and first.attempts == 1 and first.claimed_until is None
    assert first.next_attempt_at == t + timedelta(seconds=30)
    assert "cannot connect" in first.last_error

    assert deliver_batch(now=t + timedelta(seconds=29)).claimed == 0  # not due yet
    t += timedelta(seconds=30)
    deliver_batch(now=t)
    assert row("welcome:9").next_attempt_at == t + timedelta(seconds=60)  # the delay doubles
    t += timedelta(seconds=60)
    deliver_batch(now=t)
    assert row("welcome:9").next_attempt_at == t + timedelta(seconds=120)

    t += timedelta(seconds=120)
    with caplog.at_level(logging.WARNING):
        report = deliver_batch(now=t)
    assert report.gave_up == 1
    gave_up = row("welcome:9")
    assert gave_up.status == OutboxStatus.FAILED and gave_up.attempts == 4
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "welcome:9" in errors[0].getMessage() and "4 attempts" in errors[0].getMessage()
    assert "The secret body text" not in caplog.text

    monkeypatch.setitem(app.config, "EVENTSITE_MAIL_URL", mailbox.url)  # the server is back...
    assert deliver_due(now=t + timedelta(days=1)) == 0  # ...but a given-up message stays given up
    assert mailbox.messages == []


def test_backoff_is_capped_at_one_hour(ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "EVENTSITE_MAIL_URL", f"smtp://127.0.0.1:{free_port()}")
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 20)
    enqueue_email(key="k", to="dana@example.org", subject="S", text="T")
    db.session.execute(update(OutboxMessage).values(attempts=6))
    db.session.commit()
    t = utcnow()
    deliver_batch(now=t)
    assert row("k").attempts == 7 and row("k").next_attempt_at == t + timedelta(seconds=30 * 2**6)
    t = row("k").next_attempt_at
    deliver_batch(now=t)
    assert row("k").attempts == 8 and row("k").next_attempt_at == t + timedelta(hours=1)


def test_a_retry_after_failure_keeps_the_message_id(ctx, app, monkeypatch, mailbox):
    enqueue_email(key="k", to="dana@example.org", subject="S", text="T")
    db.session.commit()
    message_id = row("k").message_id
    t = utcnow()
    with monkeypatch.context() as m:
        m.setitem(app.config, "EVENTSITE_MAIL_URL", f"smtp://127.0.0.1:{free_port()}")
        assert deliver_due(now=t) == 0
    assert deliver_due(now=t + timedelta(seconds=30)) == 1
    [received] = mailbox.messages
    assert received.message["Message-ID"] == message_id
    assert row("k").attempts == 1 and row("k").status == OutboxStatus.SENT


def test_a_live_lease_is_respected_and_an_expired_one_taken_back(ctx, mailbox, app):
    enqueue_email(key="k", to="dana@example.org", subject="S", text="T")
    db.session.commit()
    t = utcnow()
    # Another worker claimed it and died mid-batch.
    db.session.execute(update(OutboxMessage).values(claimed_until=t + timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"])))
    db.session.commit()
    assert deliver_due(now=t) == 0
    assert deliver_due(now=t + timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"] - 1)) == 0
    assert deliver_due(now=t + timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"] + 1)) == 1
    assert len(mailbox.messages) == 1


def test_claim_sets_a_lease_and_commits_it(ctx, app):
    queue_plain(3)
    t = utcnow()
    ids = claim_due(2, t)
    assert len(ids) == 2
    db.session.expire_all()
    leases = db.session.scalars(select(OutboxMessage.claimed_until).order_by(OutboxMessage.id)).all()
    assert leases[:2] == [t + timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"])] * 2 and leases[2] is None
    assert claim_due(5, t) == [db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == "bulk:2"))]
    assert claim_due(5, t) == []


def test_stop_hands_the_rest_of_the_batch_back(ctx, mailbox):
    queue_plain(5)
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2  # two messages go out, then a shutdown is requested

    report = deliver_batch(stop=stop)
    assert (report.claimed, report.sent, report.released) == (5, 2, 3)
    db.session.expire_all()
    rest = db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)).all()
    assert len(rest) == 3 and all(r.claimed_until is None for r in rest)
    assert deliver_due() == 3  # another worker (or the next run) sends them at once
    assert len(mailbox.messages) == 5


@pytest.mark.postgres_only
def test_claims_skip_rows_locked_by_another_worker(app, ctx):
    queue_plain(10)
    ids = db.session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)).all()
    t = utcnow()
    with db.engine.connect() as other:  # another worker, mid-claim: it holds row locks on the first 4
        other.execute(select(OutboxMessage.id).where(OutboxMessage.id.in_(ids[:4])).with_for_update())
        result = {}

        def claim():
            with app.app_context():
                result["ids"] = claim_due(4, t)

        thread = threading.Thread(target=claim)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the claim waited for the other worker's locks instead of skipping them"
        other.rollback()
    assert result["ids"] == ids[4:8]


@pytest.mark.postgres_only
def test_two_workers_at_once_never_send_a_message_twice(app, ctx, mailbox):
    queue_plain(80)
    barrier = threading.Barrier(2)
    sent = {}
    errors = []

    def work(name: str):
        try:
            with app.app_context():
                barrier.wait()
                total = 0
                while (n := deliver_due(batch=5)) > 0:
                    total += n
                sent[name] = total
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors
    assert sent["a"] + sent["b"] == 80
    message_ids = [m.message["Message-ID"] for m in mailbox.messages]
    assert len(message_ids) == 80 and len(set(message_ids)) == 80
    db.session.expire_all()
    statuses = db.session.scalars(select(OutboxMessage.status)).all()
    assert statuses == [OutboxStatus.SENT] * 80
