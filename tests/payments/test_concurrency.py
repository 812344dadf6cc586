"""Webhooks arriving at the same moment (PostgreSQL, real threads, each request its own session):
one fulfilment, one email, one stored event, whatever the interleaving. A barrier holds both
requests until both are inside the webhook, so they really do meet at the row lock or the unique
index; the expiry sweep and fulfilment are raced the same way."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from eventsite.core.mail.models import OutboxMessage
from eventsite.extensions import db
from eventsite.payments import holds, services, webhooks
from eventsite.payments.models import StripeEvent
from tests.payments.conftest import (
    in_app,
    move_hold,
    order_state,
    register,
    send_event,
    session_id_from,
    sold,
)


def _together(n: int, calls) -> list:
    """Run the callables in n threads at once; their results (or exceptions) in order."""
    results: list = [None] * n

    def run(i):
        try:
            results[i] = calls[i]()
        except Exception as e:  # noqa: BLE001 - reported to the test
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _meet_before(monkeypatch, targets: list[tuple[object, str]], parties: int = 2):
    """Make every caller of each module.name in `targets` wait until `parties` callers arrived (one
    barrier for all of them: a name imported into several modules is patched where each looks it up),
    then go on together."""
    barrier = threading.Barrier(parties, timeout=10)

    def waiting_for(original):
        def waiting(*args, **kwargs):
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
            return original(*args, **kwargs)

        return waiting

    for module, name in targets:
        monkeypatch.setattr(module, name, waiting_for(getattr(module, name)))


def _confirmations(app, order_id: int) -> int:
    return in_app(app, lambda: db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.key == f"confirmation:{order_id}")))


@pytest.mark.postgres_only
def test_two_webhooks_for_the_same_order_at_once_fulfil_it_once(app, stripe_api, paid_event, monkeypatch):
    client = app.test_client()
    sid = session_id_from(register(client, paid_event, paid=2).headers["Location"])
    session = stripe_api.pay(sid)
    _meet_before(monkeypatch, [(services, "lock_order")])  # both are past "is it ours?" before either locks

    results = _together(2, [
        lambda: send_event(app.test_client(), stripe_api, "checkout.session.completed", session),
        lambda: send_event(app.test_client(), stripe_api, "checkout.session.async_payment_succeeded", session),
    ])
    assert [r.status_code for r in results] == [200, 200], results
    outcomes = Counter(r.get_json()["outcome"] for r in results)
    assert outcomes == Counter({"confirmed": 1, "already_fulfilled": 1})
    state = order_state(app)
    assert state["status"] == "confirmed" and state["tickets"] == ["valid", "valid"]
    assert _confirmations(app, state["id"]) == 1
    assert sold(app, paid_event.paid_type_id) == (2, 2)


@pytest.mark.postgres_only
def test_the_same_event_delivered_twice_at_once_is_handled_once(app, stripe_api, paid_event, monkeypatch):
    client = app.test_client()
    sid = session_id_from(register(client, paid_event).headers["Location"])
    session = stripe_api.pay(sid)
    _meet_before(monkeypatch, [(webhooks, "construct_event")])  # both verified, neither stored yet

    results = _together(2, [
        lambda: send_event(app.test_client(), stripe_api, "checkout.session.completed", session, event_id="evt_twice"),
        lambda: send_event(app.test_client(), stripe_api, "checkout.session.completed", session, event_id="evt_twice"),
    ])
    assert [r.status_code for r in results] == [200, 200], results
    assert sorted(r.get_json()["duplicate"] for r in results) == [False, True]
    assert in_app(app, lambda: db.session.scalar(select(func.count()).select_from(StripeEvent))) == 1
    assert _confirmations(app, order_state(app)["id"]) == 1


@pytest.mark.postgres_only
def test_the_success_page_and_the_webhook_at_once(app, stripe_api, paid_event, monkeypatch):
    client = app.test_client()
    sid = session_id_from(register(client, paid_event).headers["Location"])
    session = stripe_api.pay(sid)
    _meet_before(monkeypatch, [(services, "lock_order")])

    results = _together(2, [
        lambda: app.test_client().get(f"/payments/success?session_id={sid}"),
        lambda: send_event(app.test_client(), stripe_api, "checkout.session.completed", session),
    ])
    assert results[0].status_code == 303 and results[1].status_code == 200, results
    assert order_state(app)["status"] == "confirmed"
    assert _confirmations(app, order_state(app)["id"]) == 1


@pytest.mark.postgres_only
def test_payment_racing_the_expiry_sweep_never_loses_money_or_oversells(app, stripe_api, paid_event, monkeypatch):
    """The worker expires the hold while the payment arrives: either the order is confirmed with its
    seats, or it expired and fulfilment claims them again; never paid-and-expired, never oversold."""
    client = app.test_client()
    sid = session_id_from(register(client, paid_event, paid=2).headers["Location"])
    session = stripe_api.pay(sid)
    move_hold(app, "ada@example.org")
    _meet_before(monkeypatch, [(services, "lock_order"), (holds, "lock_order")])  # the sweep locks in `holds`

    def sweep():
        from eventsite.core.db import run_in_transaction

        return in_app(app, lambda: run_in_transaction(lambda: holds.expire_holds()))

    results = _together(2, [sweep, lambda: send_event(app.test_client(), stripe_api,
                                                      "checkout.session.completed", session)])
    assert not isinstance(results[0], Exception) and results[1].status_code == 200, results
    state = order_state(app)
    assert state["status"] == "confirmed" and state["tickets"] == ["valid", "valid"] and state["payment"]["paid"]
    assert sold(app, paid_event.paid_type_id) == (2, 2)
    assert _confirmations(app, state["id"]) == 1


@pytest.mark.postgres_only
def test_a_rush_on_seats_held_by_expired_checkouts_never_oversells(app, stripe_api, paid_event):
    """Five abandoned checkouts hold every paid seat; ten people register at once before the worker
    runs. Each registration expires the holds first (FOR UPDATE SKIP LOCKED, deadlocks retried):
    exactly five get seats, the rest a clear "sold out", and the counters end exact."""
    from eventsite.core.db import run_in_transaction
    from eventsite.events.models import Event
    from eventsite.registration.errors import SoldOutError
    from eventsite.registration.services import register_attendees

    for i in range(5):
        register(app.test_client(), paid_event, email=f"held{i}@example.org")
    assert sold(app, paid_event.paid_type_id) == (5, 5)
    for i in range(5):
        move_hold(app, f"held{i}@example.org")
    barrier = threading.Barrier(10, timeout=20)

    def one(i):
        def work():
            return register_attendees(db.session.get(Event, paid_event.id), buyer_name=f"Rush {i}",
                                      buyer_email=f"rush{i}@example.org", quantities={paid_event.paid_type_id: 1})

        with app.app_context():
            try:
                barrier.wait()
                run_in_transaction(work)
                return "ok"
            except SoldOutError:
                return "sold_out"
            finally:
                db.session.remove()

    results = _together(10, [lambda i=i: one(i) for i in range(10)])
    assert Counter(map(str, results)) == Counter({"ok": 5, "sold_out": 5}), results
    assert sold(app, paid_event.paid_type_id) == (5, 5)
    assert all(order_state(app, f"held{i}@example.org")["status"] == "expired" for i in range(5))
