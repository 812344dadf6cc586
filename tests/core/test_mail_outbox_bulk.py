"""enqueue_emails(): many messages per INSERT, with enqueue_email's checks and idempotency by key."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from eventsite.core.mail import enqueue_email
from eventsite.core.mail.message import build_message
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.mail.outbox import QueuedEmail, enqueue_emails, format_address
from eventsite.core.mail.worker import deliver_due
from eventsite.extensions import db


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def email(key: str, to: str = "dana@example.org", **kwargs) -> QueuedEmail:
    return QueuedEmail(key=key, to=to, subject=kwargs.pop("subject", f"About {key}"), text=f"Hello {key}", **kwargs)


def test_queues_every_message_in_batches_and_returns_the_new_keys(ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "EVENTSITE_MAIL_FROM", "Leadership Circle <hello@circle.example>")
    keys = enqueue_emails((email(f"bulk:{i}", to=f"p{i}@example.org") for i in range(7)), batch=3)
    db.session.commit()
    assert keys == [f"bulk:{i}" for i in range(7)]
    stored = rows()
    assert [(r.key, r.to_addr, r.subject, r.text_body, r.status, r.attempts) for r in stored] == [
        (f"bulk:{i}", f"p{i}@example.org", f"About bulk:{i}", f"Hello bulk:{i}", OutboxStatus.PENDING, 0)
        for i in range(7)]
    assert len({r.message_id for r in stored}) == 7
    assert all(r.message_id.endswith("@circle.example>") for r in stored)
    assert all(r.next_attempt_at is not None and r.created_at is not None for r in stored)


def test_a_key_that_exists_keeps_its_first_message(ctx):
    enqueue_email(key="followup:day_after:1", to="dana@example.org", subject="First", text="First")
    db.session.commit()
    keys = enqueue_emails([
        email("followup:day_after:1", to="other@example.org", subject="Changed"),
        email("followup:day_after:2"),
        email("followup:day_after:2", to="twice@example.org", subject="Second time in the same call"),
    ])
    db.session.commit()
    assert keys == ["followup:day_after:2"]
    assert [(r.key, r.to_addr, r.subject) for r in rows()] == [
        ("followup:day_after:1", "dana@example.org", "First"),
        ("followup:day_after:2", "dana@example.org", "About followup:day_after:2"),
    ]
    assert enqueue_emails([email("followup:day_after:1"), email("followup:day_after:2")]) == []
    assert enqueue_emails([]) == []


def test_rows_are_the_same_as_enqueue_email_makes_and_are_delivered(ctx, mailbox):
    name = 'Smith, Dana "D" Ünal'
    enqueue_email(key="single", to=format_address(name, "dana@example.org"), subject="Hi\r\nBcc: x@example.net",
                  text="Grüße", html="<p>Grüße</p>", headers={"List-Unsubscribe": "<https://x.example/u/1>"})
    enqueue_emails([QueuedEmail(key="bulk", to=format_address(name, "dana@example.org"), subject="Hi\r\nBcc: x@example.net",
                                text="Grüße", html="<p>Grüße</p>", headers={"List-Unsubscribe": "<https://x.example/u/1>"})])
    db.session.commit()
    single, bulk = rows()
    fields = ("to_addr", "subject", "text_body", "html_body", "attachments", "headers", "status", "attempts")
    assert [getattr(bulk, f) for f in fields] == [getattr(single, f) for f in fields]
    assert bulk.subject == "Hi Bcc: x@example.net"  # the line break could not start a header
    msg, envelope = build_message(bulk, sender="eventsite <no-reply@eventsite.test>")
    assert envelope.to_addrs == ["dana@example.org"]
    assert deliver_due() == 2
    assert len(mailbox.messages) == 2
    assert {m.message["Message-ID"] for m in mailbox.messages} == {single.message_id, bulk.message_id}


@pytest.mark.parametrize("bad", [
    {"to": "a@example.org, b@example.org"},
    {"to": "not an address"},
    {"headers": {"Bcc": "victim@example.net"}},
    {"headers": {"X-Evil\r\nBcc": "x"}},
])
def test_refuses_what_enqueue_email_refuses_and_queues_nothing(ctx, bad):
    with pytest.raises(ValueError):
        enqueue_emails([email("good"), email("bad", **bad)])
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_joins_the_callers_transaction(ctx):
    enqueue_emails([email("a"), email("b")])
    db.session.rollback()
    assert rows() == []
