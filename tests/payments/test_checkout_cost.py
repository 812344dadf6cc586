"""What starting a paid checkout costs (issue 7's benchmark; `bench/checkout_cpu.py` measures it):
the registration's transaction, then one short transaction around the Stripe call that locks the
order once, reads its payment and its ticket lines and writes the payment once. With Stripe the
registration already holds the seats until where the Checkout Session will end, so the order is not
written again; a checkout started later still moves the hold. A retried checkout transaction sends
the same idempotency key with the same parameters and keeps the one session."""
from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import OperationalError

from eventsite.core.db import run_in_transaction, utcnow
from eventsite.extensions import db
from eventsite.payments import checkout
from tests.conftest import csrf_from
from tests.payments.conftest import in_app, order_state, register, session_id_from
from tests.registration.manage_support import count_queries

_VERB_TABLE = re.compile(r"^\s*(?:(INSERT INTO|UPDATE|DELETE FROM) (\w+)|SELECT\s.*?\sFROM\s+(\w+))", re.DOTALL | re.IGNORECASE)


def _kinds(statements: list[str]) -> Counter:
    """"INSERT INTO payments", "UPDATE orders", "SELECT orders" ... (BEGIN / SAVEPOINT left out)."""
    kinds: Counter = Counter()
    for s in statements:
        m = _VERB_TABLE.match(s)
        if m:
            kinds[f"{m.group(1).upper()} {m.group(2)}" if m.group(1) else f"SELECT {m.group(3)}"] += 1
    return kinds


def _post_registration(client, paid_event, email: str = "ada@example.org"):
    page = client.get(f"/events/{paid_event.slug}")
    data = {"csrf_token": csrf_from(page.data), "name": "Ada Lovelace", "email": email,
            f"quantity-{paid_event.paid_type_id}": "1", f"quantity-{paid_event.free_type_id}": "0"}
    return lambda: client.post(f"/events/{paid_event.slug}/register", data=data)


def test_a_paid_registration_writes_the_order_once_and_the_payment_once(app, client, stripe_api, paid_event):
    post = _post_registration(client, paid_event)
    with count_queries(app) as statements:
        response = post()
    assert response.status_code == 303 and response.headers["Location"].startswith("https://checkout.stripe.test/")

    kinds = _kinds(statements)
    writes = {k: n for k, n in kinds.items() if not k.startswith("SELECT")}
    assert writes == {"UPDATE ticket_types": 1, "UPDATE events": 1, "INSERT INTO orders": 1, "INSERT INTO tickets": 1,
                      "INSERT INTO payments": 1}, statements  # no UPDATE orders (hold), no UPDATE payments
    assert kinds["SELECT payments"] == 1, kinds  # the checkout's look for an earlier attempt, under the order lock
    full_order_reads = [s for s in statements if s.lstrip().startswith("SELECT orders.id, orders.event_id")]
    assert len(full_order_reads) == 1, full_order_reads  # the lock, not a reload of the committed order too
    if in_app(app, lambda: db.engine.dialect.name) == "postgresql":
        assert "FOR UPDATE OF orders" in full_order_reads[0]
        # No hold has run out: the registration's sweep is one EXISTS and locks nothing; the checkout
        # locks the order, then looks for its payment under that lock.
        locking = [s for s in statements if "FOR UPDATE" in s]
        assert len(locking) == 2 and "FROM payments" in locking[1], locking
    assert sum(kinds.values()) <= 14, statements

    state = order_state(app)
    call = stripe_api.session_creations()[0]
    expires = datetime.fromtimestamp(int(call.params["expires_at"]), UTC)
    assert state["hold_expires_at"] == expires == state["payment"]["checkout_expires_at"]
    assert state["payment"]["session_id"] == session_id_from(response.headers["Location"])
    assert timedelta(minutes=32) < expires - utcnow() <= timedelta(minutes=33)


def test_a_checkout_started_later_still_moves_the_hold_to_the_sessions_end(app, client, stripe_api, paid_event):
    stripe_api.down = True  # the first attempt fails: she pays later from her payment page
    register(client, paid_event)
    first = order_state(app)
    assert first["payment"]["session_id"] is None and first["status"] == "pending_payment"
    stripe_api.down = False

    later = utcnow() + timedelta(minutes=5)
    url = in_app(app, lambda: run_in_transaction(
        lambda: checkout.checkout_url_for_token(first["payment"]["token"], now=later)))
    assert url.startswith("https://checkout.stripe.test/")
    state = order_state(app)
    call = stripe_api.session_creations()[-1]
    expires = datetime.fromtimestamp(int(call.params["expires_at"]), UTC)
    assert state["hold_expires_at"] == expires == state["payment"]["checkout_expires_at"]
    assert expires > first["hold_expires_at"] and expires >= later + timedelta(minutes=32) - timedelta(seconds=1)
    assert call.idempotency_key == f"eventsite-checkout-{state['code']}-{state['id']}-2"


def test_a_retried_checkout_transaction_keeps_the_one_session(app, client, stripe_api, paid_event, monkeypatch):
    """The commit after Stripe answered fails with a transient conflict: the retry asks Stripe again
    with the same idempotency key, gets the same session, and one payment row holds it."""
    post = _post_registration(client, paid_event)
    real_commit = db.session.commit
    commits: list[int] = []

    def flaky_commit():
        commits.append(1)
        if len(commits) == 2:  # the registration's commit went through; the checkout's fails once
            raise OperationalError("COMMIT", {}, Exception("database is locked"))
        return real_commit()

    monkeypatch.setattr(db.session, "commit", flaky_commit)
    response = post()
    monkeypatch.undo()
    assert response.status_code == 303 and len(commits) == 3

    calls = stripe_api.session_creations()
    assert len(calls) == 2 and calls[0].idempotency_key == calls[1].idempotency_key
    assert len(stripe_api.sessions) == 1
    state = order_state(app)
    assert state["payment"]["session_id"] == session_id_from(response.headers["Location"]) == next(iter(stripe_api.sessions))
    assert calls[0].idempotency_key == f"eventsite-checkout-{state['code']}-{state['id']}-1"
