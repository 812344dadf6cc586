"""enqueue_email(): idempotent by key, checked recipients and headers, in the caller's transaction."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from eventsite.core.mail import enqueue_email
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.mail.outbox import format_address
from eventsite.extensions import db


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage))


def test_enqueue_is_idempotent_by_key(ctx):
    first = enqueue_email(key="invitation:7", to="dana@example.org", subject="Join us", text="Hello")
    db.session.commit()
    again = enqueue_email(key="invitation:7", to="someone-else@example.org", subject="Changed", text="Other")
    db.session.commit()
    assert again.id == first.id
    assert count() == 1
    row = db.session.scalar(select(OutboxMessage))
    assert (row.to_addr, row.subject, row.text_body, row.status) == ("dana@example.org", "Join us", "Hello", OutboxStatus.PENDING)
    assert row.message_id.startswith("<") and row.message_id.endswith(">") and "@" in row.message_id


def test_enqueue_joins_the_callers_transaction(ctx):
    enqueue_email(key="confirmation:1", to="dana@example.org", subject="Hi", text="Hello")
    db.session.rollback()  # the change that caused the email did not happen: neither does the email
    assert count() == 0


def test_message_ids_are_unique_and_use_the_sender_domain(ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "EVENTSITE_MAIL_FROM", "Leadership Circle <hello@circle.example>")
    a = enqueue_email(key="a", to="a@example.org", subject="A", text="A")
    b = enqueue_email(key="b", to="b@example.org", subject="B", text="B")
    db.session.commit()
    assert a.message_id != b.message_id
    assert a.message_id.endswith("@circle.example>")


def test_format_address_quotes_any_name(ctx):
    row = enqueue_email(key="k", to=format_address('Smith, Dana "D"', "dana@example.org"), subject="S", text="T")
    assert row.to_addr == '"Smith, Dana \\"D\\"" <dana@example.org>'


@pytest.mark.parametrize(
    "to",
    ["a@example.org, b@example.org", "Smith, Dana <dana@example.org>", "not an address", "",
     "Eve\r\nBcc: victim@example.net <eve@example.org>"],
)
def test_enqueue_refuses_anything_but_one_recipient(ctx, to):
    with pytest.raises(ValueError):
        enqueue_email(key="bad", to=to, subject="S", text="T")
    assert count() == 0


@pytest.mark.parametrize("name", ["X-Evil\r\nBcc", "Bcc", "From", "Content-Type", "Bad Name", "Colon:"])
def test_enqueue_refuses_bad_or_reserved_extra_headers(ctx, name):
    with pytest.raises(ValueError):
        enqueue_email(key="bad", to="dana@example.org", subject="S", text="T", headers={name: "x"})
    assert count() == 0
