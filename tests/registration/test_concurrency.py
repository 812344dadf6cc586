"""Never oversold, never "database is locked": real threads, each with its own app context and session."""
from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from eventsite.core.db import begin_write, is_retryable_conflict, run_in_transaction
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.registration.errors import AlreadyRegisteredError, SoldOutError
from eventsite.registration.models import Order, Ticket
from eventsite.registration.services import register_attendees
from tests.factories import make_event, make_ticket_type


def _rush(app, event_id: int, type_id: int, emails: list[str], *, quantity: int = 1) -> Counter:
    """Every email registers at the same moment from its own thread; returns outcome counts.

    Outcomes: "ok", "sold_out", "already_registered", or "error: <exception>" for anything else.
    """
    barrier = threading.Barrier(len(emails))
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(email: str) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)  # no connection held while waiting: the pool has fewer than 50

                def work():
                    return register_attendees(
                        db.session.get(Event, event_id), buyer_name="Rush Attendee", buyer_email=email,
                        quantities={type_id: quantity},
                        attendees=[{"name": f"Guest {i}"} for i in range(1, quantity)],
                    )

                run_in_transaction(work)
                outcome = "ok"
            except SoldOutError:
                outcome = "sold_out"
            except AlreadyRegisteredError:
                outcome = "already_registered"
            except Exception as e:  # noqa: BLE001 - the test counts every other failure
                outcome = f"error: {type(e).__name__}: {e}"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(email,)) for email in emails]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a registration thread hung"
    return Counter(outcomes)


def _state(app, type_id: int, event_id: int) -> tuple[int, int, int, int]:
    with app.app_context():
        tickets = db.session.scalar(select(func.count()).select_from(Ticket))
        orders = db.session.scalar(select(func.count()).select_from(Order))
        sold = db.session.get(TicketType, type_id).sold
        event_sold = db.session.get(Event, event_id).sold
        db.session.remove()
    return tickets, orders, sold, event_sold


def _setup(app, org_id, *, capacity: int, event_capacity: int | None = None) -> tuple[int, int]:
    with app.app_context():
        event = make_event(org_id, capacity=event_capacity)
        tt = make_ticket_type(event, capacity=capacity, max_per_order=10)
        ids = event.id, tt.id
        db.session.remove()
    return ids


def test_twenty_threads_all_succeed_or_are_told_sold_out(app, org_id):
    """On SQLite (a file database in WAL mode) as on PostgreSQL: no "database is locked", no oversell."""
    event_id, type_id = _setup(app, org_id, capacity=12)
    outcomes = _rush(app, event_id, type_id, [f"rush{i}@example.org" for i in range(20)])
    assert outcomes == Counter({"ok": 12, "sold_out": 8}), outcomes
    assert _state(app, type_id, event_id) == (12, 12, 12, 12)


def test_threads_buying_several_tickets_against_an_event_capacity(app, org_id):
    event_id, type_id = _setup(app, org_id, capacity=100, event_capacity=10)
    outcomes = _rush(app, event_id, type_id, [f"group{i}@example.org" for i in range(12)], quantity=3)
    assert outcomes == Counter({"ok": 3, "sold_out": 9}), outcomes  # 3 x 3 = 9; a fourth group does not fit
    assert _state(app, type_id, event_id) == (9, 3, 9, 9)


def test_the_same_email_from_many_threads_makes_one_order(app, org_id):
    event_id, type_id = _setup(app, org_id, capacity=50)
    outcomes = _rush(app, event_id, type_id, ["same@example.org"] * 10)
    assert outcomes == Counter({"ok": 1, "already_registered": 9}), outcomes
    assert _state(app, type_id, event_id) == (1, 1, 1, 1)


@pytest.mark.postgres_only
def test_fifty_threads_on_postgres_for_ten_seats(app, org_id):
    event_id, type_id = _setup(app, org_id, capacity=10)
    outcomes = _rush(app, event_id, type_id, [f"pg{i}@example.org" for i in range(60)])
    assert outcomes == Counter({"ok": 10, "sold_out": 50}), outcomes
    assert _state(app, type_id, event_id) == (10, 10, 10, 10)


# --- the helper itself -------------------------------------------------------------------------

def _locked() -> OperationalError:
    return OperationalError("UPDATE ticket_types ...", {}, sqlite3.OperationalError("database is locked"))


def test_run_in_transaction_retries_a_locked_database_and_commits(ctx, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    calls = []

    def work():
        calls.append(1)
        if len(calls) < 3:
            raise _locked()
        return "done"

    assert run_in_transaction(work) == "done"
    assert len(calls) == 3


def test_run_in_transaction_gives_up_after_its_attempts_and_never_retries_other_errors(ctx, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    calls = []

    def always_locked():
        calls.append(1)
        raise _locked()

    with pytest.raises(OperationalError):
        run_in_transaction(always_locked, attempts=4)
    assert len(calls) == 4

    def refused():
        calls.append(2)
        raise SoldOutError("sold out")

    with pytest.raises(SoldOutError):
        run_in_transaction(refused)
    assert calls.count(2) == 1


def test_retryable_conflicts_are_recognised():
    class PgError(Exception):
        def __init__(self, sqlstate):
            self.sqlstate = sqlstate

    assert is_retryable_conflict(_locked())
    assert is_retryable_conflict(OperationalError("x", {}, PgError("40P01")))  # deadlock
    assert is_retryable_conflict(OperationalError("x", {}, PgError("40001")))  # serialization failure
    assert not is_retryable_conflict(OperationalError("x", {}, PgError("23505")))  # unique violation
    assert not is_retryable_conflict(ValueError("database is locked"))


def test_begin_write_takes_the_sqlite_writer_lock_up_front(app, ctx, database_url):
    """After begin_write() another writer cannot start: the unit of work owns the lock from its first read."""
    if not database_url.startswith("sqlite"):
        begin_write(db.session)  # a no-op on PostgreSQL
        db.session.rollback()
        return
    begin_write(db.session)
    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        db.session.rollback()
        other.execute("BEGIN IMMEDIATE")  # free again once the unit of work ends
        other.execute("ROLLBACK")
    finally:
        other.close()


def _read_then_write_rush(app, org_id, *, attempts: int) -> Counter:
    """20 threads run a unit of work that reads inside its transaction before it writes (it opens a
    savepoint first, as code that wants to catch an IntegrityError does): the pattern that makes
    SQLite answer "database is locked" at once instead of waiting."""
    with app.app_context():
        event = make_event(org_id)
        type_id = make_ticket_type(event, capacity=1000).id
        db.session.remove()
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        with app.app_context():
            barrier.wait(timeout=30)

            def work():
                with db.session.begin_nested():
                    db.session.get(TicketType, type_id, populate_existing=True)  # read ...
                    time.sleep(0.002)
                    db.session.execute(  # ... then write
                        update(TicketType.__table__).where(TicketType.__table__.c.id == type_id)
                        .values(sold=TicketType.__table__.c.sold + 1)
                    )

            try:
                run_in_transaction(work, attempts=attempts)
                outcome = "ok"
            except Exception as e:  # noqa: BLE001
                outcome = "locked" if "database is locked" in str(e) else f"error: {e}"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with app.app_context():
        assert db.session.get(TicketType, type_id).sold == outcomes.count("ok")
        db.session.remove()
    return Counter(outcomes)


def test_read_then_write_units_of_work_wait_for_the_writer_lock(app, org_id):
    """No retry needed (attempts=1): BEGIN IMMEDIATE makes them queue for the lock instead of failing."""
    assert _read_then_write_rush(app, org_id, attempts=1) == Counter({"ok": 20})


def test_without_begin_write_sqlite_would_say_database_is_locked(app, org_id, database_url, monkeypatch):
    """The control for the test above: without BEGIN IMMEDIATE the same rush fails on SQLite, which
    shows the test is real. (PostgreSQL's row locks simply wait: there it succeeds either way.)"""
    import eventsite.core.db as core_db

    monkeypatch.setattr(core_db, "begin_write", lambda session: None)
    outcomes = _read_then_write_rush(app, org_id, attempts=1)
    if database_url.startswith("sqlite"):
        assert outcomes["locked"] >= 1 and set(outcomes) <= {"ok", "locked"}, outcomes
    else:
        assert outcomes == Counter({"ok": 20}), outcomes
