"""The check-in scenario's own checks at small scale: every ticket admitted exactly once."""
from __future__ import annotations

from sqlalchemy import func, select

from bench.scenarios.checkin import Checkin
from eventsite.checkin.models import Scan
from eventsite.registration.models import Order, Ticket


def test_doors_admit_every_ticket_once_and_the_checks_agree(live_env):
    scenario = Checkin(scanners=4, tickets=36, pace=0, time_limit=60)
    assert scenario.skipped is None  # the API endpoint exists
    spec = scenario.prepare(live_env, 1)
    outcome = live_env.run_load(spec)
    result = scenario.evaluate(live_env, spec, outcome)

    assert [f"{c.name}: {c.detail}" for c in result.checks if not c.ok] == []
    assert result.counts == {"scan 201": 36 + 4 * 9 + 4 * 10}  # own share, 9 already admitted, 10 unknown
    event_id = spec["seeded"]["event_id"]
    with live_env.app_context() as db:
        # Issued through the registration service: orders of 10 with their confirmations.
        assert db.session.scalar(select(func.count()).select_from(Order).where(Order.event_id == event_id)) == 4
        assert db.session.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.event_id == event_id, Ticket.checked_in_at.is_not(None))) == 36
        assert db.session.scalar(select(func.count()).select_from(Scan).where(Scan.event_id == event_id)) == 112


def test_the_checks_catch_a_ticket_that_was_not_admitted(live_env):
    scenario = Checkin(scanners=2, tickets=6, pace=0, time_limit=60)
    spec = scenario.prepare(live_env, 1)
    skipped = spec["params"]["plans"][0][0][0]  # door 1 never scans its first ticket
    spec["params"]["plans"][0] = [step for step in spec["params"]["plans"][0] if step[0] != skipped]
    outcome = live_env.run_load(spec)
    failed = {c.name for c in scenario.evaluate(live_env, spec, outcome).checks if not c.ok}
    assert "all 6 tickets checked in" in failed
    assert "one `ok` in the scan log per ticket, none twice" in failed
