"""The follow-up plan: due times in the event's zone, idempotent queueing, late and skipped steps,
who qualifies, and consent at the moment each email is written."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from eventsite.connections import event_settings, introductions, models, plan, profiles
from eventsite.connections.models import (
    ConnectionSettings,
    FollowUpRun,
    RunStatus,
    Step,
    Suggestion,
)
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.tasks import run_due_tasks
from eventsite.extensions import db
from tests.connections.conftest import (
    DAY_AFTER_DUE,
    ENDS,
    KEEP_IN_TOUCH_DUE,
    RECONNECT_DUE,
    UTC,
    YEAR,
    attendee,
    forget_registration_mail,
    outbox_keys,
    outbox_to,
    set_plan,
)
from tests.factories import make_event, make_ticket_type


def followups() -> list[str]:
    return [k for k in outbox_keys() if k.startswith("followup:")]


@pytest.fixture
def circle(event):
    """Four people: three can help each other; Nora did not consent; Erin did not come."""
    people = {
        "ada": attendee(event, "Ada Lovelace", company="Analytical", offers=["Board governance"], asks=["Negotiating a raise"]),
        "dana": attendee(event, "Dana Okafor", company="Okafor & Co", offers=["Negotiating a raise"], asks=["Board governance"]),
        "grace": attendee(event, "Grace Hopper", company="Navy", offers=["Public speaking", "Negotiating a raise"], asks=["Hiring"]),
        "nora": attendee(event, "Nora Noconsent", company="Quiet", offers=["Board governance", "Hiring"],
                         asks=["Negotiating a raise"], consent=False),
        "erin": attendee(event, "Erin Elsewhere", company="Away", offers=["Hiring"], asks=["Public speaking"], checked_in=False),
    }
    forget_registration_mail()
    return people


def test_steps_are_due_at_ten_in_the_event_zone(event):
    settings = event_settings.settings_for(event)
    timings = plan.schedule(event.ends_at, event.timezone, settings)
    assert [(t.step, t.due_at) for t in timings] == [
        (Step.DAY_AFTER, DAY_AFTER_DUE),  # 11 March 10:00 CET
        (Step.KEEP_IN_TOUCH, KEEP_IN_TOUCH_DUE),  # 9 April 10:00 CEST: summer time since 31 March
        (Step.RECONNECT, RECONNECT_DUE),
    ]
    assert [t.expires_at for t in timings] == [KEEP_IN_TOUCH_DUE, RECONNECT_DUE, RECONNECT_DUE + timedelta(days=30)]
    # An evening in Los Angeles ends on 10 July in UTC but on the 9th locally: the day after is the
    # 10th at 10:00 local (PDT) = 17:00 UTC.
    la_end = datetime(YEAR, 7, 10, 5, 0, tzinfo=UTC)
    la = plan.schedule(la_end, "America/Los_Angeles", settings)
    assert la[0].due_at == datetime(YEAR, 7, 10, 17, 0, tzinfo=UTC)
    assert plan.step_state(timings[0], DAY_AFTER_DUE - timedelta(seconds=1)) == "waiting"
    assert plan.step_state(timings[0], DAY_AFTER_DUE) == "due"
    assert plan.step_state(timings[0], KEEP_IN_TOUCH_DUE) == "late"


def test_the_organizers_days_hour_and_switches(event):
    set_plan(event, steps={"day_after": (True, 2), "keep_in_touch": (False, 30), "reconnect": (True, 60)}, send_hour=8)
    timings = plan.schedule(event.ends_at, event.timezone, event_settings.settings_for(event))
    assert [(t.step, t.due_at) for t in timings] == [
        (Step.DAY_AFTER, datetime(YEAR, 3, 12, 7, 0, tzinfo=UTC)),
        (Step.RECONNECT, datetime(YEAR, 5, 9, 6, 0, tzinfo=UTC)),
    ]
    assert timings[0].expires_at == timings[1].due_at  # the next *enabled* step


def test_nothing_before_it_is_due_then_each_eligible_consenting_attendee_once(circle, event):
    assert run_due_tasks(DAY_AFTER_DUE - timedelta(minutes=1)).errors == []
    assert followups() == []
    report = run_due_tasks(DAY_AFTER_DUE)
    assert report.errors == [] and report.results["connections.send_follow_ups"] == 3
    expected = sorted(f"followup:day_after:{circle[n].profile_id}" for n in ("ada", "dana", "grace"))
    assert followups() == expected
    # Nora (no consent) and Erin (not checked in) get nothing, and nobody reads about them.
    assert outbox_to(circle["nora"].email) == [] and outbox_to(circle["erin"].email) == []
    for message in db.session.scalars(select(OutboxMessage)):
        for hidden in ("Nora", "Noconsent", "Erin", circle["nora"].email, circle["erin"].email):
            assert hidden not in message.text_body and hidden not in (message.html_body or "")
    ada_mail = outbox_to(circle["ada"].email)[0]
    assert "Dana Okafor" in ada_mail.text_body
    assert ("Dana can help with negotiating a raise, which you are looking for; "
            "you could help Dana with board governance.") in ada_mail.text_body
    assert "I'd like an introduction" in ada_mail.text_body and "Who here could you help?" in ada_mail.text_body
    assert ada_mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert ada_mail.headers["List-Unsubscribe"].startswith("<http://eventsite.test/u/")
    # The suggestions are recorded, and running again (or later the same day) queues nothing new.
    suggestions = db.session.scalar(select(func.count(Suggestion.id)))
    assert suggestions >= 3
    run_due_tasks(DAY_AFTER_DUE)
    run_due_tasks(DAY_AFTER_DUE + timedelta(hours=5))
    assert followups() == expected
    assert db.session.scalar(select(func.count(Suggestion.id))) == suggestions
    run = db.session.scalar(select(FollowUpRun).where(FollowUpRun.step == Step.DAY_AFTER))
    assert run.status == RunStatus.DONE and run.queued == 3


def test_a_crash_halfway_resumes_without_sending_anything_twice(circle, event, monkeypatch):
    from eventsite.connections import emails

    monkeypatch.setattr(plan, "BATCH", 1)
    real = emails.followup_email
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the worker died here")
        return real(*args, **kwargs)

    monkeypatch.setattr(emails, "followup_email", flaky)
    report = run_due_tasks(DAY_AFTER_DUE)
    assert report.errors == ["connections.send_follow_ups"]
    assert len(followups()) == 1  # the first batch was committed, the second rolled back
    monkeypatch.setattr(emails, "followup_email", real)
    run_due_tasks(DAY_AFTER_DUE + timedelta(minutes=1))
    run_due_tasks(DAY_AFTER_DUE + timedelta(minutes=2))
    assert len(followups()) == 3 and len(set(followups())) == 3
    assert db.session.scalar(select(FollowUpRun.queued).where(FollowUpRun.step == Step.DAY_AFTER)) == 3


def test_a_step_due_while_the_worker_was_down_goes_out_once(circle):
    two_days_late = DAY_AFTER_DUE + timedelta(days=2)
    run_due_tasks(two_days_late)
    assert len(followups()) == 3
    run_due_tasks(two_days_late + timedelta(hours=1))
    assert len(followups()) == 3


def test_a_step_is_skipped_when_the_next_one_is_due(circle):
    run_due_tasks(KEEP_IN_TOUCH_DUE + timedelta(hours=1))
    runs = {r.step: r for r in db.session.scalars(select(FollowUpRun))}
    assert runs[Step.DAY_AFTER].status == RunStatus.SKIPPED and runs[Step.DAY_AFTER].queued == 0
    assert runs[Step.KEEP_IN_TOUCH].status == RunStatus.DONE
    assert not any(k.startswith("followup:day_after:") for k in followups())
    keep = [k for k in followups() if k.startswith("followup:keep_in_touch:")]
    assert len(keep) == 3  # new suggestions: nobody was suggested to anyone yet
    html = outbox_to(circle["ada"].email)[0].html_body
    assert "New people to meet" in html or "Someone new to meet" in html


def test_the_last_step_lapses_a_month_after_it_was_due(circle, event):
    set_plan(event, steps={"day_after": (False, 1), "keep_in_touch": (False, 30), "reconnect": (True, 90)})
    run_due_tasks(RECONNECT_DUE + timedelta(days=31))
    assert followups() == []
    assert db.session.scalar(select(FollowUpRun.status).where(FollowUpRun.step == Step.RECONNECT)) == RunStatus.SKIPPED


def test_everyone_registered_when_the_organizer_says_so(circle, event):
    set_plan(event, audience="registered")
    run_due_tasks(DAY_AFTER_DUE)
    keys = followups()
    assert f"followup:day_after:{circle['erin'].profile_id}" in keys  # not checked in, but registered
    assert f"followup:day_after:{circle['nora'].profile_id}" not in keys  # still no consent


def test_a_plan_turned_off_sends_nothing_and_is_not_looked_at_again(circle, event):
    set_plan(event, enabled=False)
    run_due_tasks(DAY_AFTER_DUE)
    run_due_tasks(RECONNECT_DUE)
    assert followups() == [] and db.session.scalar(select(func.count(FollowUpRun.id))) == 0


def test_after_the_last_step_the_event_is_finished(circle, event):
    for moment in (DAY_AFTER_DUE, KEEP_IN_TOUCH_DUE, RECONNECT_DUE):
        run_due_tasks(moment)
    settings = db.session.get(ConnectionSettings, event.id)
    db.session.refresh(settings)
    assert settings.finished_at == RECONNECT_DUE
    assert plan._events_to_check(RECONNECT_DUE + timedelta(days=1)) == []


def test_keep_in_touch_shows_introductions_and_only_new_suggestions(circle, event):
    ada, dana = circle["ada"], circle["dana"]
    run_due_tasks(DAY_AFTER_DUE)
    suggested_to_ada = set(db.session.scalars(select(Suggestion.suggested_id).where(Suggestion.profile_id == ada.profile_id)))
    ada_p = db.session.get(models.NetworkingProfile, ada.profile_id)
    dana_p = db.session.get(models.NetworkingProfile, dana.profile_id)
    introductions.request_introduction(ada_p, dana_p, now=DAY_AFTER_DUE + timedelta(hours=1))
    introductions.request_introduction(dana_p, ada_p, now=DAY_AFTER_DUE + timedelta(hours=2))
    db.session.commit()
    run_due_tasks(KEEP_IN_TOUCH_DUE)
    mail = next(m for m in outbox_to(ada.email) if m.key.startswith("followup:keep_in_touch"))
    text = mail.text_body
    assert "THE PERSON YOU WERE INTRODUCED TO" in text and "Dana Okafor" in text and dana.email in text
    assert "We met, and it was useful" in text and "/keep-in-touch/feedback/" in text
    assert "reached out" in text  # reaching out is welcome, not an imposition
    new = set(db.session.scalars(select(Suggestion.suggested_id).where(
        Suggestion.profile_id == ada.profile_id, Suggestion.step == Step.KEEP_IN_TOUCH)))
    assert not (new & suggested_to_ada) and dana.profile_id not in new


def test_someone_who_withdrew_consent_disappears_from_the_later_emails(circle, event):
    ada, dana = circle["ada"], circle["dana"]
    run_due_tasks(DAY_AFTER_DUE)
    ada_p = db.session.get(models.NetworkingProfile, ada.profile_id)
    dana_p = db.session.get(models.NetworkingProfile, dana.profile_id)
    introductions.request_introduction(ada_p, dana_p, now=DAY_AFTER_DUE)
    introductions.request_introduction(dana_p, ada_p, now=DAY_AFTER_DUE)
    profiles.set_consent(dana_p, False, now=DAY_AFTER_DUE + timedelta(days=3))
    db.session.commit()
    run_due_tasks(KEEP_IN_TOUCH_DUE)
    later = [m for m in outbox_to(ada.email) if m.key.startswith("followup:keep_in_touch")]
    assert all("Dana" not in m.text_body and dana.email not in m.text_body for m in later)
    assert outbox_to(dana.email) == [m for m in outbox_to(dana.email) if not m.key.startswith("followup:keep_in_touch")]


def test_an_event_without_profiles_is_left_alone(ctx, org_id):
    quiet = make_event(org_id, title="No profiles", slug="no-profiles", starts_at=ENDS - timedelta(hours=3), ends_at=ENDS)
    make_ticket_type(quiet)
    assert run_due_tasks(DAY_AFTER_DUE).errors == []
    assert db.session.scalar(select(func.count(FollowUpRun.id))) == 0
