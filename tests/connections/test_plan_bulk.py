"""The follow-up plan queues each batch with one bulk insert: an unusable address skips only her."""
from __future__ import annotations

from sqlalchemy import select, update

from eventsite.connections.models import FollowUpRun, NetworkingProfile, RunStatus, Step
from eventsite.core.tasks import run_due_tasks
from eventsite.extensions import db
from tests.connections.conftest import DAY_AFTER_DUE, attendee, forget_registration_mail, outbox_keys


def test_an_address_the_mail_cannot_use_skips_her_not_the_batch(event):
    ada = attendee(event, "Ada Lovelace", company="Analytical", offers=["Board governance"], asks=["Negotiating a raise"])
    dana = attendee(event, "Dana Okafor", company="Okafor", offers=["Negotiating a raise"], asks=["Board governance"])
    joerg = attendee(event, "Jörg Müller", company="Müller", offers=["Negotiating a raise"], asks=["Board governance"],
                    email="joerg@example.org")
    # An internationalised local part (email-validator accepts it): the address header cannot carry it.
    db.session.execute(update(NetworkingProfile).where(NetworkingProfile.id == joerg.profile_id)
                       .values(email="jörg@example.org"))
    db.session.commit()
    forget_registration_mail()

    report = run_due_tasks(DAY_AFTER_DUE)
    assert report.errors == []
    assert [k for k in outbox_keys() if k.startswith("followup:")] == sorted(
        [f"followup:day_after:{ada.profile_id}", f"followup:day_after:{dana.profile_id}"])
    run = db.session.scalar(select(FollowUpRun).where(FollowUpRun.step == Step.DAY_AFTER))
    assert run.status == RunStatus.DONE and run.queued == 2
    run_due_tasks(DAY_AFTER_DUE)
    assert len([k for k in outbox_keys() if k.startswith("followup:")]) == 2
