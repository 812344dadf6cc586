"""enqueue_deferred_many(): many deferred rows per INSERT, the same rows enqueue_deferred makes,
idempotent by key, and an unusable recipient either refused or skipped on request."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from eventsite.core.mail.deferred import (
    RENDERERS,
    Content,
    DeferredEmail,
    enqueue_deferred,
    enqueue_deferred_many,
)
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.mail.outbox import _one_recipient, checked_recipient, format_address, mailbox
from eventsite.core.mail.worker import deliver_batch
from eventsite.extensions import db


@pytest.fixture
def hello(monkeypatch):
    def render(args: dict) -> Content:
        return Content(subject=f"Hello {args['n']}", text=f"Dear person {args['n']}", html=f"<p>{args['n']}</p>")

    monkeypatch.setitem(RENDERERS, "test.hello", render)


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def deferred(key: str, to: str = "dana@example.org", n: int = 1) -> DeferredEmail:
    return DeferredEmail(key=key, to=to, renderer="test.hello", args={"n": n}, subject="Hello")


def test_rows_in_batches_like_enqueue_deferred_makes_them_and_the_worker_renders_them(ctx, hello, mailbox):
    name = 'Smith, Dana "D" Ünal'
    assert enqueue_deferred(key="single", to=format_address(name, "dana@example.org"), renderer="test.hello",
                            args={"n": 0}, subject="Hello\r\nBcc: x@example.net")
    keys = enqueue_deferred_many(
        [DeferredEmail(key=f"bulk:{i}", to=format_address(name, f"p{i}@example.org"), renderer="test.hello",
                       args={"n": i + 1}, subject="Hello\r\nBcc: x@example.net") for i in range(5)], batch=2)
    db.session.commit()
    assert keys == [f"bulk:{i}" for i in range(5)]
    stored = rows()
    single = stored[0]
    fields = ("subject", "text_body", "html_body", "attachments", "headers", "renderer", "status", "attempts")
    for row in stored[1:]:
        assert [getattr(row, f) for f in fields] == [getattr(single, f) for f in fields]
    assert stored[1].to_addr == '"Smith, Dana \\"D\\" Ünal" <p0@example.org>'
    assert stored[1].subject == "Hello Bcc: x@example.net" and stored[3].render_args == {"n": 3}
    assert len({r.message_id for r in stored}) == 6

    assert deliver_batch().sent == 6
    assert sorted(m.message["Subject"] for m in mailbox.messages) == [f"Hello {n}" for n in range(6)]
    assert all(r.status == OutboxStatus.SENT and r.renderer is None for r in rows())


def test_a_key_that_exists_keeps_its_first_row(ctx, hello):
    enqueue_deferred(key="k1", to="first@example.org", renderer="test.hello", args={"n": 1})
    keys = enqueue_deferred_many([deferred("k1", "other@example.org"), deferred("k2"), deferred("k2", "twice@example.org")])
    db.session.commit()
    assert keys == ["k2"]
    assert [(r.key, r.to_addr) for r in rows()] == [("k1", "first@example.org"), ("k2", "dana@example.org")]
    assert enqueue_deferred_many([deferred("k1"), deferred("k2")]) == [] and enqueue_deferred_many([]) == []


def test_an_unusable_recipient_is_refused_or_skipped_on_request(ctx, hello):
    bad = deferred("bad", "a@example.org, b@example.org")
    with pytest.raises(ValueError):
        enqueue_deferred_many([deferred("good"), bad])
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0

    skipped = []
    keys = enqueue_deferred_many([deferred("good"), bad, deferred("also-good")],
                                 on_unusable=lambda email, error: skipped.append((email.key, type(error))))
    assert keys == ["good", "also-good"] and skipped == [("bad", ValueError)]
    with pytest.raises(ValueError, match="no renderer"):
        enqueue_deferred_many([DeferredEmail(key="x", to="dana@example.org", renderer="test.nope", args={})])


NAMES = ["", "Dana", "Dana O'Neil", 'Smith, Dana "D" Ünal', "a\\b", "(comment) x", "<x@y.org>", "Jörg Müller",
         "x\r\nBcc: y@z.org", "undisclosed-recipients:;", "=?utf-8?q?x?=", '"', "a@b.c"]


@pytest.mark.parametrize("name", NAMES)
def test_a_mailbox_is_the_recipient_the_outbox_would_make_from_its_formatted_string(name):
    for address in ("dana@example.org", "x@[1.2.3.4]", '"a b"@c.org', "a(b)@c.org"):
        assert checked_recipient(mailbox(name, address)) == _one_recipient(format_address(name, address))


PLAIN = ["dana@example.org", "Dana.O'Neil+events@mail.example.co.uk", "a!#$%&*/=?^_`{|}~-@x-y.org", "a@b",
         "first.last@sub-1.example"]


@pytest.mark.parametrize("address", PLAIN + ["a..b@c.org", ".a@c.org", "a.@c.org", "a@c..org", "a@-c.org."])
def test_a_plain_address_is_the_mailbox_the_email_parser_makes_of_it(address):
    """mailbox() skips the parser for a plain dot-atom address: it must give what the parser gives
    (or parse, and refuse, what is not plain)."""
    from email.errors import HeaderParseError
    from email.headerregistry import Address

    try:
        parsed = Address(display_name="Dana O'Neil", addr_spec=address)
    except (ValueError, IndexError, HeaderParseError):
        with pytest.raises(ValueError):
            checked_recipient(mailbox("Dana O'Neil", address))
        return
    made = mailbox("Dana O'Neil", address)
    assert (str(made), made.username, made.domain) == (str(parsed), parsed.username, parsed.domain)
    assert checked_recipient(made) == _one_recipient(format_address("Dana O'Neil", address))


@pytest.mark.parametrize("address", ["jörg@example.org", "a@", "@b.org", "", "a b@c.org", "a@b@c.org",
                                     "a@b.org, c@d.org"])
def test_a_mailbox_refuses_what_the_outbox_refuses(address):
    with pytest.raises(ValueError):
        checked_recipient(mailbox("Dana", address))
    with pytest.raises(ValueError):
        _one_recipient(f"Dana <{address}>")


def test_a_renderer_whose_query_fails_spoils_nothing_else_in_the_batch(ctx, hello, mailbox, monkeypatch):
    """The worker renders each row in a savepoint: a failed query (which aborts a PostgreSQL
    transaction) costs that row one attempt; the rows before and after it are rendered and sent."""
    from sqlalchemy import text

    def broken(args: dict) -> Content:
        db.session.execute(text("SELECT * FROM no_such_table"))
        raise AssertionError("not reached")

    monkeypatch.setitem(RENDERERS, "test.broken", broken)
    enqueue_deferred_many([deferred("a", "a@example.org", 1),
                           DeferredEmail(key="b", to="b@example.org", renderer="test.broken", args={}),
                           deferred("c", "c@example.org", 3)])
    db.session.commit()
    report = deliver_batch()
    assert report.sent == 2 and report.failed == 1 and report.gave_up == 0
    assert sorted(m.message["Subject"] for m in mailbox.messages) == ["Hello 1", "Hello 3"]
    by_key = {r.key: r for r in rows()}
    assert by_key["a"].status == OutboxStatus.SENT and by_key["a"].text_body == "Dear person 1"
    assert by_key["b"].status == OutboxStatus.PENDING and by_key["b"].renderer == "test.broken"
    assert "no_such_table" in by_key["b"].last_error
