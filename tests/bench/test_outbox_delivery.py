"""The outbox delivery scenario at small scale: the day-after step queues deferred follow-ups, two
real `flask worker` processes render and deliver them to the harness's SMTP sink, exactly once each,
and stop cleanly; the checks catch a repeat."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from bench.harness import SmtpSink
from bench.scenarios.outbox_delivery import OutboxDelivery
from eventsite.core.mail import enqueue_email
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from tests.bench.conftest import AppEnvironment


@pytest.fixture
def sink():
    s = SmtpSink()
    s.start()
    yield s
    s.stop()


def test_two_workers_deliver_every_email_once_and_stop_cleanly(app, sink):
    env = AppEnvironment(app, sink)
    with env.app_context() as db:  # someone else's pending mail is set aside during the run, then put back
        enqueue_email(key="confirmation:1", to="dana@example.org", subject="Your ticket", text="Hi")
        db.session.commit()
    scenario = OutboxDelivery(100, workers=2, time_limit=60)
    spec = scenario.prepare(env, 1)
    assert spec["queued"] == 100 and spec["parked"] == 1 and spec["due_before_start"] == 100
    outcome = scenario.run(env, spec)
    result = scenario.evaluate(env, spec, outcome)

    assert [f"{c.name}: {c.detail}" for c in result.checks if not c.ok] == []
    assert sink.count == 100 and len(set(sink.message_ids)) == 100
    assert result.figures["emails_per_s"] > 0 and result.figures["worker_cpu_ms"] > 0
    assert [s["returncode"] for s in outcome["stops"]] == [0, 0]
    with env.app_context() as db:
        other = db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == "confirmation:1"))
        assert other.status == OutboxStatus.PENDING
        assert other.next_attempt_at < datetime.fromisoformat(spec["parked_at"]) - timedelta(days=300)  # put back
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.SENT)) == 100
        # The step queued them as the plan does, and the workers wrote each one before sending it.
        assert spec["deferred"] == 100
        sent = db.session.scalars(select(OutboxMessage).where(OutboxMessage.key.like("followup:day_after:%"))).all()
        assert len(sent) == 100 and all(m.renderer is None for m in sent)
        assert all(m.subject.startswith("People worth keeping in touch with from Leadership Evening") for m in sent)
        assert all("/keep-in-touch/introduce/" in m.text_body and "Why:" in m.text_body for m in sent)

    # The checks would catch a message delivered twice, or one that never arrived.
    twice = dict(outcome, message_ids=outcome["message_ids"][:-1] + outcome["message_ids"][:1],
                 arrivals=outcome["arrivals"])
    names = {c.name for c in scenario.evaluate(env, spec, twice).checks if not c.ok}
    assert names == {"no Message-ID twice", "every queued Message-ID arrived"}


def test_the_sink_records_each_message_id():
    from bench.harness import _message_id_of

    raw = b"From: a@example.org\r\nMessage-ID: <abc@example.org>\r\nSubject: x\r\n\r\nMessage-ID: <body@x>\r\n"
    assert _message_id_of(raw) == "<abc@example.org>"
    assert _message_id_of(b"Subject: none\r\n\r\nMessage-ID: <body@x>\r\n") == ""
