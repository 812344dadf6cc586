"""Several doors, one ticket, the same moment: admitted once. Real threads, each with its own session."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from eventsite.accounts.models import User
from eventsite.checkin.models import Scan
from eventsite.checkin.services import check_in
from eventsite.core.db import run_in_transaction
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Ticket


def _rush(app, door, codes: list[str], request_ids: list[str | None]) -> list[dict]:
    """Each (code, request id) is scanned from its own thread at the same moment; returns the answers."""
    barrier = threading.Barrier(len(codes))
    answers: list[dict] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        with app.app_context():
            try:
                event = db.session.get(Event, door.event_id)
                staff = db.session.scalar(select(User).where(User.email == door.staff_email))
                db.session.commit()  # no connection held while waiting at the barrier
                barrier.wait(timeout=30)
                result = run_in_transaction(lambda: check_in(codes[i], event=event, staff=staff, door=f"Door {i}",
                                                             request_id=request_ids[i]))
                answer = result.to_json()
            except Exception as e:  # noqa: BLE001 - the test counts every failure
                answer = {"result": f"error: {type(e).__name__}: {e}"}
            finally:
                db.session.remove()
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(codes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a scanning thread hung"
    return answers


def _state(app, secret: str) -> tuple[int, Counter]:
    with app.app_context():
        t = db.session.scalar(select(Ticket).where(Ticket.secret == secret))
        results = Counter(db.session.scalars(select(Scan.result).where(Scan.ticket_id == t.id)))
        checked = t.checked_in_at
        db.session.remove()
    return checked, results


def _one_ticket_many_doors(app, door, tickets, n: int) -> None:
    [secret] = tickets(name="Rush Hour")
    answers = _rush(app, door, [secret] * n, [None] * n)

    results = Counter(a["result"] for a in answers)
    assert results == Counter({"ok": 1, "already_checked_in": n - 1}), results
    checked_at, logged = _state(app, secret)
    assert logged == Counter({"ok": 1, "already_checked_in": n - 1})
    # Every "already" names the one door that admitted her.
    [winner] = [a for a in answers if a["result"] == "ok"]
    assert {a["checked_in_door"] for a in answers if a["result"] != "ok"} == {winner["checked_in_door"]}
    assert checked_at is not None


@pytest.mark.postgres_only
def test_twenty_doors_scanning_one_ticket_at_once_admit_it_once(app, door, tickets):
    _one_ticket_many_doors(app, door, tickets, 20)


def test_doors_scanning_one_ticket_at_once_admit_it_once_on_any_database(app, door, tickets):
    _one_ticket_many_doors(app, door, tickets, 8)


@pytest.mark.postgres_only
def test_twenty_copies_of_one_request_are_one_scan(app, door, tickets):
    """A client retrying one request many times at once (flaky network): one scan, one answer."""
    [secret] = tickets(name="Retry Rita")
    answers = _rush(app, door, [secret] * 20, ["same-request-0001"] * 20)

    assert {a["result"] for a in answers} == {"ok"}, answers
    assert sum(1 for a in answers if not a["replayed"]) == 1
    assert len({a["scan_id"] for a in answers}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Scan)) == 1
        db.session.remove()


@pytest.mark.postgres_only
def test_many_tickets_at_many_doors_each_admitted_once(app, door, tickets):
    secrets = tickets(name="Table Host", n=10)
    codes = secrets + secrets  # each ticket at two doors at once
    answers = _rush(app, door, codes, [None] * len(codes))
    by_name = Counter((a["ticket"]["attendee_name"], a["result"]) for a in answers)
    assert all(by_name[(name, "ok")] == 1 and by_name[(name, "already_checked_in")] == 1
               for name, _ in by_name), by_name
    assert sum(1 for a in answers if a["result"] == "ok") == 10
