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

    # The next run reuses the event: the sent rows of the first are gone, the step queues the same
    # 100 again (new Message-IDs), the workers deliver them once each.
    again = scenario.prepare(env, 2)
    assert again["queued"] == again["deferred"] == 100 and again["parked"] == 1
    assert not set(again["message_ids"]) & set(spec["message_ids"])
    with env.app_context() as db:
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.key.like("followup:%"))) == 100
    second = scenario.evaluate(env, again, scenario.run(env, again))
    assert [f"{c.name}: {c.detail}" for c in second.checks if not c.ok] == []
    assert sink.count == 200


def test_the_sink_speaks_smtp_to_smtplib(sink):
    """Two messages over one session (one with a line starting with a dot, both larger than one read),
    RSET and NOOP between them, a second session, and a DATA without a recipient refused."""
    import smtplib
    from email.message import EmailMessage

    def message(n: int) -> EmailMessage:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"], m["Message-ID"] = "a@example.org", "b@example.org", "Hi", f"<m{n}@example.org>"
        m.set_content(".a line that starts with a dot\n" + "x" * 100_000 + "\n")
        return m

    with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
        smtp.send_message(message(1), to_addrs=["b@example.org", "c@example.org"])
        assert smtp.rset()[0] == 250 and smtp.noop()[0] == 250
        assert smtp.docmd("DATA")[0] == 503
        smtp.send_message(message(2))
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
        smtp.send_message(message(3))
    assert sink.count == 3
    assert sink.message_ids == ["<m1@example.org>", "<m2@example.org>", "<m3@example.org>"]
    assert sink.recipients == ["b@example.org", "c@example.org", "b@example.org", "b@example.org"]
    assert sink.arrivals == sorted(sink.arrivals)


def test_the_sink_records_each_message_id():
    from bench.harness import _message_id_of

    raw = b"From: a@example.org\r\nMessage-ID: <abc@example.org>\r\nSubject: x\r\n\r\nMessage-ID: <body@x>\r\n"
    assert _message_id_of(raw) == "<abc@example.org>"
    assert _message_id_of(b"Subject: none\r\n\r\nMessage-ID: <body@x>\r\n") == ""


def test_it_delivers_the_follow_up_scenarios_emails_of_the_same_round(app, sink):
    """With followup_planning just before (as in `make bench`), no second event is seeded and planned:
    the emails its run queued are delivered, and its next run deletes them again."""
    from bench.scenarios.followup_planning import FollowupPlanning

    env = AppEnvironment(app, sink)
    followup = FollowupPlanning(40)
    planned = followup.prepare(env, 1)
    assert followup.evaluate(env, planned, followup.run(env, planned)).ok
    scenario = OutboxDelivery(40, workers=2, time_limit=60)
    spec = scenario.prepare(env, 1)
    assert scenario._event_id is None  # nothing seeded
    assert spec["queued"] == spec["deferred"] == 40 and spec["parked"] == 0
    with env.app_context() as db:
        keys = set(db.session.scalars(
            select(OutboxMessage.key).where(OutboxMessage.message_id.in_(spec["message_ids"]))))
    assert keys == {f"followup:day_after:{pid}" for pid in planned["eligible"]}
    result = scenario.evaluate(env, spec, scenario.run(env, spec))
    assert [f"{c.name}: {c.detail}" for c in result.checks if not c.ok] == []
    assert sink.count == 40 and result.figures["enqueue_s"] > 0

    # Taken once: a second delivery run without a follow-up run in between makes its own.
    followup.prepare(env, 2)  # undoes the delivered emails
    with env.app_context() as db:
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    own = scenario.prepare(env, 2)
    assert scenario._event_id is not None and own["queued"] == own["deferred"] == 40
