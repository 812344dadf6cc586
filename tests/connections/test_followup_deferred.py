"""The follow-ups are queued as deferred outbox rows (ids only) and written by the delivery worker:
the same email as when the step rendered it itself, and nothing at all for someone who withdrew
her consent (or left) between the plan and the delivery."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from eventsite.connections import emails, introductions, profiles
from eventsite.connections.models import Introduction, NetworkingProfile, Step, Suggestion
from eventsite.core.mail.deferred import NothingToSend, materialize
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.mail.outbox import _one_recipient, format_address
from eventsite.core.mail.worker import deliver_batch
from eventsite.core.tasks import run_due_tasks
from eventsite.events.models import Event
from eventsite.extensions import db
from tests.connections.conftest import DAY_AFTER_DUE, KEEP_IN_TOUCH_DUE, attendee, forget_registration_mail


@pytest.fixture
def trio(event):
    people = {
        "ada": attendee(event, "Ada Lovelace", company="Analytical", offers=["Board governance"],
                        asks=["Negotiating a raise"], linkedin="https://www.linkedin.com/in/ada"),
        "dana": attendee(event, "Dana O'Neil", company="O'Neil & Co", offers=["Negotiating a raise"],
                         asks=["Board governance"], offers_text="Happy to share what I learned & more."),
        "grace": attendee(event, "Grace Hopper", company="Navy", offers=["Public speaking", "Negotiating a raise"],
                          asks=["Hiring"]),
    }
    forget_registration_mail()
    return people


def _row(key: str) -> OutboxMessage:
    db.session.expire_all()
    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))


def _as_the_step_rendered_it(step: Step, pid: int, now) -> dict:
    """The follow-up as the step used to render and queue it itself, from the same state."""
    profile = db.session.get(NetworkingProfile, pid)
    event = db.session.get(Event, profile.event_id)
    suggested = [db.session.get(NetworkingProfile, o) for o in db.session.scalars(
        select(Suggestion.suggested_id).where(Suggestion.step == step, Suggestion.profile_id == pid)
        .order_by(Suggestion.rank))]
    made = db.session.scalars(select(Introduction).where(
        (Introduction.first_id == pid) | (Introduction.second_id == pid), Introduction.status == "made")
        .order_by(Introduction.made_at, Introduction.id)).all() if step != Step.DAY_AFTER else []
    email = emails.render_followup(
        step, profile, event, suggestions=[(o, None) for o in suggested if profiles.can_be_shown(o)],
        introductions=[(i, db.session.get(NetworkingProfile, i.other_id(pid))) for i in made], now=now)
    return {"to": _one_recipient(format_address(profile.name, profile.email)), "subject": email.subject,
            "text": email.text, "html": email.html, "headers": email.headers}


def _as_written(row: OutboxMessage) -> dict:
    return {"to": row.to_addr, "subject": row.subject, "text": row.text_body, "html": row.html_body,
            "headers": row.headers}


def test_the_step_queues_ids_and_the_worker_writes_exactly_the_email_the_step_used_to(trio, event):
    ada, dana = trio["ada"], trio["dana"]
    assert run_due_tasks(DAY_AFTER_DUE).results["connections.send_follow_ups"] == 3
    key = emails.followup_key(Step.DAY_AFTER, ada.profile_id)
    row = _row(key)
    # Queued: who, which step and event, whom to show, the plan's clock; no content yet.
    assert row.renderer == "connections.followup" and row.text_body == "" and row.html_body is None
    suggested = list(db.session.scalars(select(Suggestion.suggested_id).where(
        Suggestion.step == Step.DAY_AFTER, Suggestion.profile_id == ada.profile_id).order_by(Suggestion.rank)))
    assert dana.profile_id in suggested
    assert row.render_args == {"profile_id": ada.profile_id, "event_id": event.id, "step": "day_after",
                               "suggested": suggested, "introductions": [], "now": DAY_AFTER_DUE.isoformat()}
    assert row.subject == "People worth keeping in touch with from Spring Breakfast"  # shown until rendered

    for person in trio.values():
        key = emails.followup_key(Step.DAY_AFTER, person.profile_id)
        expected = _as_the_step_rendered_it(Step.DAY_AFTER, person.profile_id, DAY_AFTER_DUE)
        row = _row(key)
        assert materialize(row) is True
        db.session.commit()
        assert _as_written(_row(key)) == expected
    text = _row(emails.followup_key(Step.DAY_AFTER, ada.profile_id)).text_body
    assert "Dana O'Neil" in text and "/keep-in-touch/introduce/" in text and "Why:" in text


def test_a_later_step_with_an_introduction_is_written_as_before(trio, event):
    ada, dana = trio["ada"], trio["dana"]
    run_due_tasks(DAY_AFTER_DUE)
    ada_p, dana_p = (db.session.get(NetworkingProfile, p.profile_id) for p in (ada, dana))
    introductions.request_introduction(ada_p, dana_p, now=DAY_AFTER_DUE + timedelta(hours=1))
    introductions.request_introduction(dana_p, ada_p, now=DAY_AFTER_DUE + timedelta(hours=2))
    db.session.commit()
    run_due_tasks(KEEP_IN_TOUCH_DUE)
    key = emails.followup_key(Step.KEEP_IN_TOUCH, ada.profile_id)
    intro_id = db.session.scalar(select(Introduction.id))
    assert _row(key).render_args["introductions"] == [intro_id]
    expected = _as_the_step_rendered_it(Step.KEEP_IN_TOUCH, ada.profile_id, KEEP_IN_TOUCH_DUE)
    materialize(_row(key))
    db.session.commit()
    written = _as_written(_row(key))
    assert written == expected
    assert "THE PERSON YOU WERE INTRODUCED TO" in written["text"] and dana.email in written["text"]


def test_consent_withdrawn_after_planning_sends_her_nothing_and_hides_her(trio, mailbox):
    ada, dana, grace = trio["ada"], trio["dana"], trio["grace"]
    run_due_tasks(DAY_AFTER_DUE)
    assert ada.profile_id in _row(emails.followup_key(Step.DAY_AFTER, dana.profile_id)).render_args["suggested"]
    profiles.set_consent(db.session.get(NetworkingProfile, ada.profile_id), False, now=DAY_AFTER_DUE)
    db.session.commit()

    report = deliver_batch()
    assert report.sent == 2 and report.gave_up == 1
    assert mailbox.to(ada.email) == []
    row = _row(emails.followup_key(Step.DAY_AFTER, ada.profile_id))
    assert row.status == OutboxStatus.FAILED and row.attempts == 1
    assert row.last_error.startswith("nothing to send: ") and "consent withdrawn" in row.last_error
    # The emails that would have shown her are sent without her.
    for person in (dana, grace):
        [mail] = mailbox.to(person.email)
        text = mail.message.get_body(preferencelist=("plain",)).get_content()
        assert "Ada" not in text and ada.email not in text
    # Nothing is retried later.
    assert deliver_batch().sent == 0 and mailbox.to(ada.email) == []


def test_nobody_left_to_show_or_her_profile_gone_sends_nothing(trio):
    dana, grace = trio["dana"], trio["grace"]
    run_due_tasks(DAY_AFTER_DUE)
    grace_row = _row(emails.followup_key(Step.DAY_AFTER, grace.profile_id))
    assert grace_row.render_args["suggested"]
    for pid in grace_row.render_args["suggested"]:  # everyone Grace was to meet unsubscribes
        profiles.unsubscribe(db.session.get(NetworkingProfile, pid), now=DAY_AFTER_DUE)
    db.session.commit()
    assert deliver_batch().gave_up >= 1
    row = _row(grace_row.key)
    assert row.status == OutboxStatus.FAILED and row.last_error.startswith("nothing to send: nobody left to show")

    # Her profile gone by a way that did not remove her queued mail (the services do): nothing either.
    args = {**grace_row.render_args, "profile_id": grace.profile_id + 1000, "suggested": [dana.profile_id]}
    with pytest.raises(NothingToSend, match="was deleted"):
        emails._followup_content(args)


def test_a_batch_of_follow_ups_loads_the_people_once(trio, event):
    """The renderer's `prepare` loads a batch's people (with tickets and orders) in one go: the
    worker's rendering does not query per email."""
    from sqlalchemy import event as sa_event

    from eventsite.core.mail.deferred import materialize_pending

    run_due_tasks(DAY_AFTER_DUE)
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        assert materialize_pending() == 3
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    db.session.commit()
    assert len([s for s in statements if "FROM networking_profiles" in s]) == 1
    assert len([s for s in statements if "FROM tickets" in s]) == 1
    assert all(_row(emails.followup_key(Step.DAY_AFTER, p.profile_id)).renderer is None for p in trio.values())
