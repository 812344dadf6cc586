"""Emails rendered by the worker (core/mail/deferred.py) through the real SMTP server."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from eventsite.core.mail import Attachment
from eventsite.core.mail.deferred import RENDERERS, Content, NothingToSend, enqueue_deferred, materialize_pending
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.mail.worker import deliver_batch
from eventsite.extensions import db


@pytest.fixture
def greeting(monkeypatch):
    """A renderer that counts its calls and says what the 'database' holds at render time."""
    state = {"calls": 0, "name": "Dana", "gone": False, "broken": False}

    def render(args: dict) -> Content:
        state["calls"] += 1
        if state["gone"]:
            raise NothingToSend(f"person {args['person']} was erased")
        if state["broken"]:
            raise RuntimeError("template exploded")
        return Content(
            subject=f"Hello {state['name']}",
            text=f"Dear {state['name']} (person {args['person']})",
            html=f"<p>Dear <b>{state['name']}</b></p><img src=\"cid:logo@test\">",
            attachments=(Attachment("logo.png", "image/png", b"\x89PNG fake", inline_cid="logo@test"),),
            headers={"List-Unsubscribe": "<https://eventsite.test/u/1>"},
        )

    monkeypatch.setitem(RENDERERS, "test.greeting", render)
    return state


def _row(key: str) -> OutboxMessage:
    db.session.expire_all()
    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))


def test_content_is_made_by_the_worker_from_the_state_at_send_time(ctx, mailbox, greeting):
    assert enqueue_deferred(key="greet:1", to="Dana <dana@example.org>", renderer="test.greeting",
                            args={"person": 7}, subject="Hello")
    db.session.commit()
    queued = _row("greet:1")
    assert queued.text_body == "" and queued.renderer == "test.greeting" and greeting["calls"] == 0
    assert queued.to_addr == "Dana <dana@example.org>" and queued.render_args == {"person": 7}

    greeting["name"] = "Dana Okafor"  # renamed after queuing, before the worker runs
    assert deliver_batch().sent == 1

    [mail] = mailbox.to("dana@example.org")
    msg = mail.message
    assert msg["Subject"] == "Hello Dana Okafor" and msg["Message-ID"] == queued.message_id
    assert msg["List-Unsubscribe"] == "<https://eventsite.test/u/1>"
    assert "Dear Dana Okafor (person 7)" in msg.get_body(("plain",)).get_content()
    [logo] = [p for p in msg.walk() if p["Content-ID"] == "<logo@test>"]
    assert logo.get_payload(decode=True) == b"\x89PNG fake"

    sent = _row("greet:1")
    assert sent.status == OutboxStatus.SENT and sent.renderer is None
    assert sent.subject == "Hello Dana Okafor" and "Dana Okafor" in sent.text_body  # what went out is kept


def test_rendered_content_is_kept_and_a_retry_sends_it_unchanged(ctx, mailbox, smtp_server, greeting, app):
    """Rendered once, committed before the first attempt: a failed attempt (or a worker that dies
    after rendering) leaves the content in the row, and the retry sends it as it was."""
    enqueue_deferred(key="greet:3", to="dana@example.org", renderer="test.greeting", args={"person": 3})
    db.session.commit()
    app.config["EVENTSITE_MAIL_URL"] = "smtp://127.0.0.1:1"  # nobody listens: the attempt fails
    try:
        report = deliver_batch()
    finally:
        app.config["EVENTSITE_MAIL_URL"] = smtp_server.url
    assert report.sent == 0 and report.failed == 1
    row = _row("greet:3")
    assert row.renderer is None and row.subject == "Hello Dana" and row.attempts == 1

    greeting["name"] = "Someone else"  # changes after rendering do not reach the retry
    db.session.execute(OutboxMessage.__table__.update().values(next_attempt_at=OutboxMessage.created_at))
    db.session.commit()
    assert deliver_batch().sent == 1
    [mail] = mailbox.to("dana@example.org")
    assert mail.message["Subject"] == "Hello Dana" and greeting["calls"] == 1


def test_a_vanished_subject_gives_up_at_once(ctx, mailbox, greeting):
    enqueue_deferred(key="greet:4", to="dana@example.org", renderer="test.greeting", args={"person": 4})
    db.session.commit()
    greeting["gone"] = True
    report = deliver_batch()
    assert report.gave_up == 1 and mailbox.messages == []
    row = _row("greet:4")
    assert row.status == OutboxStatus.FAILED and "person 4 was erased" in row.last_error


def test_a_failing_renderer_is_retried_later(ctx, mailbox, greeting):
    enqueue_deferred(key="greet:5", to="dana@example.org", renderer="test.greeting", args={"person": 5})
    db.session.commit()
    greeting["broken"] = True
    report = deliver_batch()
    assert report.failed == 1 and report.gave_up == 0
    row = _row("greet:5")
    assert row.status == OutboxStatus.PENDING and row.renderer == "test.greeting" and row.attempts == 1
    assert "template exploded" in row.last_error


def test_queuing_is_idempotent_and_checks_its_arguments(ctx, greeting):
    assert enqueue_deferred(key="greet:6", to="dana@example.org", renderer="test.greeting", args={"person": 6})
    assert not enqueue_deferred(key="greet:6", to="other@example.org", renderer="test.greeting", args={"person": 9})
    assert _row("greet:6").to_addr == "dana@example.org"  # the first row is kept as it was
    with pytest.raises(ValueError, match="no renderer"):
        enqueue_deferred(key="greet:7", to="dana@example.org", renderer="test.nope", args={})
    with pytest.raises(ValueError):
        enqueue_deferred(key="greet:8", to="a@example.org, b@example.org", renderer="test.greeting", args={})
    assert materialize_pending() == 1 and greeting["calls"] == 1


def test_a_registration_confirmation_arrives_with_its_qr_codes(ctx, mailbox, organizer):
    """The real renderer: registration's confirmation, made by the worker (decoded QR codes)."""
    from eventsite.registration import services
    from tests.factories import make_event, make_ticket_type
    from tests.registration.helpers import decode_qr_png

    event = make_event(organizer["organization_id"])
    tt = make_ticket_type(event, capacity=10)
    order = services.register_attendees(event, buyer_name="Ada Lovelace", buyer_email="ada@example.org",
                                        quantities={tt.id: 2}, attendees=[{"name": "Bea", "email": ""}])
    db.session.commit()
    assert deliver_batch().sent == 1
    [mail] = mailbox.to("ada@example.org")
    images = [p for p in mail.message.walk() if p.get_content_type() == "image/png"]
    assert sorted(decode_qr_png(p.get_payload(decode=True))[0] for p in images) == sorted(t.secret for t in order.tickets)
