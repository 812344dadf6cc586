"""The worker marks sent messages in groups (one UPDATE per OUTBOX_SENT_FLUSH), never losing one:
whatever was sent is marked before a stop hands the rest of the batch back."""
from __future__ import annotations

from sqlalchemy import event, select

from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.mail.worker import deliver_batch
from eventsite.extensions import db
from tests.core.test_mail_worker import queue_plain


def statuses() -> list[OutboxStatus]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)))


def test_sent_messages_are_marked_in_groups(ctx, app, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_SENT_FLUSH", 4)
    queue_plain(10)
    updates = []

    def count_updates(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE OUTBOX_MESSAGES SET STATUS"):
            updates.append(statement)

    event.listen(db.engine, "before_cursor_execute", count_updates)
    try:
        report = deliver_batch(batch=10)
    finally:
        event.remove(db.engine, "before_cursor_execute", count_updates)
    assert report.sent == 10 and len(mailbox.messages) == 10
    assert len(updates) == 3  # 4 + 4 + the last 2
    assert statuses() == [OutboxStatus.SENT] * 10
    db.session.expire_all()
    assert all(m.sent_at is not None and m.claimed_until is None for m in db.session.scalars(select(OutboxMessage)))


def test_a_stop_marks_what_was_sent_before_handing_the_rest_back(ctx, app, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_SENT_FLUSH", 50)
    queue_plain(8)
    report = deliver_batch(batch=8, stop=lambda: len(mailbox.messages) >= 3)
    assert (report.sent, report.released) == (3, 5)
    assert statuses() == [OutboxStatus.SENT] * 3 + [OutboxStatus.PENDING] * 5
    assert deliver_batch(batch=8).sent == 5  # only the rest: nothing twice
    assert len(mailbox.messages) == 8 and len({m.message["Message-ID"] for m in mailbox.messages}) == 8
