"""The check-in scenario's own checks at small scale: every ticket admitted exactly once."""
from __future__ import annotations

from sqlalchemy import func, select

from bench.scenarios.checkin import Checkin
from eventsite.checkin.models import Scan
from eventsite.registration.models import Order, Ticket


def test_doors_admit_every_ticket_once_and_the_checks_agree(live_env):
    """Three runs scan a third of one event's tickets each; a fourth starts a new event."""
    scenario = Checkin(scanners=4, tickets=36, pace=0, time_limit=60)
    assert scenario.skipped is None  # the API endpoint exists
    events = []
    for run in (1, 2, 3, 4):
        spec = scenario.prepare(live_env, run)
        outcome = live_env.run_load(spec)
        result = scenario.evaluate(live_env, spec, outcome)
        assert [f"{c.name}: {c.detail}" for c in result.checks if not c.ok] == []
        assert result.counts == {"scan 201": 12 + 12 + 4 * 10}  # own share, all 3 per door again, 10 unknown
        events.append(spec["seeded"]["event_id"])
    assert events[0] == events[1] == events[2] != events[3]
    with live_env.app_context() as db:
        # Issued through the registration service: orders of 10 with their confirmations.
        assert db.session.scalar(select(func.count()).select_from(Order).where(Order.event_id == events[0])) == 4
        assert db.session.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.event_id == events[0], Ticket.checked_in_at.is_not(None))) == 36
        assert db.session.scalar(select(func.count()).select_from(Scan).where(Scan.event_id == events[0])) == 3 * 64


def test_the_checks_catch_a_ticket_that_was_not_admitted(live_env):
    scenario = Checkin(scanners=2, tickets=12, pace=0, time_limit=60)  # 4 tickets in the run
    spec = scenario.prepare(live_env, 1)
    skipped = spec["params"]["plans"][0][0][0]  # door 1 never scans its first ticket
    spec["params"]["plans"][0] = [step for step in spec["params"]["plans"][0] if step[0] != skipped]
    outcome = live_env.run_load(spec)
    failed = {c.name for c in scenario.evaluate(live_env, spec, outcome).checks if not c.ok}
    assert "all 4 tickets of the run checked in (0 before it)" in failed
    assert "one `ok` in the scan log per ticket, none twice" in failed
