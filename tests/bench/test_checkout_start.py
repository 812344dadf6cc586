"""The paid checkout start scenario's own checks at small scale, against the fake Stripe API the
payment tests use (the `stripe_api` fixture points the live app at it). No timing is asserted."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bench.scenarios.checkout_start import CHECKOUT_PREFIX, CheckoutStart
from eventsite.payments.models import Payment
from eventsite.registration.models import Order
from tests.payments.conftest import fake_stripe_server, stripe_api  # noqa: F401 - fixtures


@pytest.fixture
def env(live_env, stripe_api):  # noqa: F811 - the fixture imported above
    live_env.stripe = stripe_api
    return live_env


def test_every_visitor_is_sent_to_a_checkout_session_and_holds_one_seat(env):
    scenario = CheckoutStart(clients=3, seconds=0.6)
    spec = scenario.prepare(env, 1)
    outcome = env.run_load(spec)
    result = scenario.evaluate(env, spec, outcome)

    assert [f"{c.name}: {c.detail}" for c in result.checks if not c.ok] == []
    started = result.counts["checkout 303"]
    assert started >= 3 and result.counts["page 200"] == started
    assert result.figures["checkouts_per_s"] > 0
    sent = {s for r in outcome["results"] for s in r["sessions"]}
    with env.app_context() as db:
        orders = db.session.scalars(select(Order).where(Order.event_id == spec["seeded"]["event_id"])).all()
        sessions = set(db.session.scalars(select(Payment.checkout_session_id).where(
            Payment.order_id.in_([o.id for o in orders]))))
    assert len(orders) == started and sessions == sent
    assert len(env.stripe.session_creations()) == started
    assert all(env.stripe.sessions[s]["url"] == CHECKOUT_PREFIX + s[len("cs_test_"):] for s in sent)


def test_the_checks_catch_a_session_stripe_never_made(env):
    scenario = CheckoutStart(clients=2, seconds=0.3)
    spec = scenario.prepare(env, 1)
    outcome = env.run_load(spec)
    outcome["results"][0]["sessions"][0] = "cs_test_forged"
    failed = {c.name for c in scenario.evaluate(env, spec, outcome).checks if not c.ok}
    assert failed == {"each order's payment is open with the session its visitor was sent to"}


def test_the_checks_catch_a_hold_that_was_released(env):
    scenario = CheckoutStart(clients=2, seconds=0.3)
    spec = scenario.prepare(env, 1)
    outcome = env.run_load(spec)
    with env.app_context() as db:
        order = db.session.scalars(select(Order).where(Order.event_id == spec["seeded"]["event_id"])).first()
        order.hold_expires_at = None
        db.session.commit()
    failed = {c.name for c in scenario.evaluate(env, spec, outcome).checks if not c.ok}
    assert len(failed) == 1 and next(iter(failed)).endswith("until a future hold_expires_at")
