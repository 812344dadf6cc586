"""The waitlist under concurrent use, with real threads on PostgreSQL (row locks, not a single writer):
one claim wins, two workers expire an offer once, and a cancellation racing a public registration
hands the seat to the waitlist, never to the public."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from eventsite.core.db import run_in_transaction, utcnow
from eventsite.core.errors import DomainError
from eventsite.core.mail.models import OutboxMessage
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration import cancellation, services, waitlist_offers
from eventsite.registration.errors import SoldOutError
from eventsite.registration.models import Order, Ticket, WaitlistEntry, WaitlistStatus
from tests.registration.waitlist_helpers import (
    SoldOut,
    cancel,
    entry_for,
    in_db,
    join,
    make_sold_out,
    sold,
)

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def sold_out(app, organizer) -> SoldOut:
    """A published event whose only ticket type (capacity 1) is taken by Ada's order."""
    return make_sold_out(app, organizer["organization_id"])


def _at_once(app, jobs) -> list[str]:
    """Run each job (a function of no arguments, inside run_in_transaction) in its own thread, all
    released together; return their outcomes: "ok", the DomainError's code, or "error: ..."."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(job) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                run_in_transaction(job)
                outcome = "ok"
            except DomainError as e:
                outcome = e.code
            except Exception as e:  # noqa: BLE001 - counted, and the test fails on it
                outcome = f"error: {type(e).__name__}: {e}"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return outcomes


def test_two_claims_of_the_same_offer_at_once_make_one_order(app, sold_out):
    token = join(app, sold_out.event_id, "wanda@example.org")
    cancel(app, sold_out.order_id)
    for _ in range(3):  # a few rounds: the race must be lost the same way every time
        outcomes = _at_once(app, [lambda: waitlist_offers.claim_offer(token) for _ in range(4)])
        with in_db(app):
            assert sorted(outcomes) in (["offer_not_available"] * 4, ["offer_not_available"] * 3 + ["ok"]), outcomes
            wanda_orders = db.session.scalars(select(Order).where(Order.buyer_email == "wanda@example.org")).all()
            assert len(wanda_orders) == 1
            assert db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.order_id == wanda_orders[0].id)) == 1
            assert sold(sold_out.type_id) == 1
            assert entry_for("wanda@example.org").status == WaitlistStatus.CLAIMED


def test_two_workers_expiring_at_once_pass_the_offer_on_once(app, sold_out):
    join(app, sold_out.event_id, "wanda@example.org")
    join(app, sold_out.event_id, "xena@example.org", name="Xena Next")
    join(app, sold_out.event_id, "yara@example.org", name="Yara Third")
    cancel(app, sold_out.order_id)
    later = utcnow() + timedelta(hours=49)
    outcomes = _at_once(app, [lambda: waitlist_offers.expire_offers(later) for _ in range(4)])
    assert outcomes == ["ok"] * 4
    with in_db(app):
        statuses = [e.status for e in db.session.scalars(select(WaitlistEntry).order_by(WaitlistEntry.id))]
        assert statuses == [WaitlistStatus.EXPIRED, WaitlistStatus.OFFERED, WaitlistStatus.WAITING]
        offers = db.session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.like("waitlist-offer:%"))).all()
        assert len(offers) == 2 and sold(sold_out.type_id) == 1


def test_a_cancellation_racing_public_registrations_gives_the_seat_to_the_waitlist(app, sold_out):
    join(app, sold_out.event_id, "wanda@example.org")

    def cancel_ada():
        cancellation.cancel_order(db.session.get(Order, sold_out.order_id))

    def public(i):
        return lambda: services.register_attendees(
            db.session.get(Event, sold_out.event_id), buyer_name="Pat Public", buyer_email=f"pat{i}@example.org",
            quantities={sold_out.type_id: 1})

    outcomes = _at_once(app, [cancel_ada] + [public(i) for i in range(6)])
    assert Counter(outcomes) == Counter({"ok": 1, SoldOutError.code: 6}), outcomes
    with in_db(app):
        assert entry_for("wanda@example.org").status == WaitlistStatus.OFFERED
        assert db.session.scalar(select(func.count()).select_from(Order).where(Order.buyer_email.like("pat%"))) == 0
        assert sold(sold_out.type_id) == 1
