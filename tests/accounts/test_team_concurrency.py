"""Team rules that must hold when two people act at the same moment (PostgreSQL, real threads)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from eventsite.accounts import team
from eventsite.accounts.models import Membership, Role, User
from eventsite.core.errors import DomainError
from eventsite.extensions import db
from tests.factories import make_member, make_organizer

pytestmark = pytest.mark.postgres_only


def _run_together(app, *jobs):
    """Run each job(session-bound) in its own thread and app context, released by one barrier."""
    barrier = threading.Barrier(len(jobs))
    results: list[str] = []
    lock = threading.Lock()

    def run(job):
        with app.app_context():
            try:
                prepared = job["prepare"]()
                barrier.wait(timeout=10)
                job["act"](prepared)
                db.session.commit()
                outcome = "ok"
            except DomainError as e:
                db.session.rollback()
                outcome = e.code
            finally:
                db.session.remove()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return sorted(results)


def test_two_owners_demoting_each_other_at_once_leave_one_owner(app):
    for _ in range(3):
        with app.app_context():
            first = make_organizer()
            org_id = first.memberships[0].organization_id
            second = make_member(org_id, Role.OWNER)
            ids = [(first.id, second.memberships[0].id), (second.id, first.memberships[0].id)]
            db.session.remove()

        def job(actor_id, membership_id):
            def prepare():
                actor = db.session.get(User, actor_id)
                _ = actor.memberships  # her rights as read before the other acts
                return actor

            return {"prepare": prepare,
                    "act": lambda actor: team.change_role(membership_id, Role.ORGANIZER, actor=actor)}

        results = _run_together(app, *(job(a, m) for a, m in ids))
        assert results == ["last_owner", "ok"]
        with app.app_context():
            owners = db.session.scalar(select(func.count()).select_from(Membership).where(
                Membership.organization_id == org_id, Membership.role == Role.OWNER))
            assert owners == 1


def test_one_invitation_link_accepted_twice_at_once_makes_one_account(app):
    with app.app_context():
        owner = make_organizer()
        org_id = owner.memberships[0].organization_id
        _, token = team.invite_member(org_id, "racer@example.org", Role.ORGANIZER, actor=owner)
        db.session.commit()
        db.session.remove()

    def job():
        return {"prepare": lambda: None,
                "act": lambda _: team.accept_invitation(token, name="Racer", password="a long new passphrase")}

    results = _run_together(app, job(), job())
    assert results == ["ok", "used"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.email == "racer@example.org")) == 1
        assert db.session.scalar(select(func.count()).select_from(Membership).where(Membership.organization_id == org_id)) == 2
