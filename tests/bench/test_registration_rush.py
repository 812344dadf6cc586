"""The registration rush's own checks at small scale (issue 7: "the benchmark's own correctness
checks belong in the test suite as ordinary tests"). No timing is asserted here."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bench import stats
from bench.scenarios.registration_rush import RegistrationRush
from eventsite.events.models import TicketType
from eventsite.registration.models import Order, Ticket
from eventsite.registration.services import register_attendees

# The suite's app has no floor routes (bench/wsgi_bench.py adds them): the burst floor GETs this.
BURST_PATH = "/healthz"


def _rush(clients: int, capacity: int, **kw) -> RegistrationRush:
    return RegistrationRush(clients, capacity, time_limit=60, burst_path=BURST_PATH, **kw)


def _run(env, clients: int, capacity: int, **kw):
    scenario = _rush(clients, capacity, **kw)
    spec = scenario.prepare(env, 1)
    outcome = scenario.run(env, spec)
    return scenario, spec, outcome, scenario.evaluate(env, spec, outcome)


@pytest.mark.parametrize(("clients", "capacity"), [(12, 5), (4, 15)], ids=["fewer-seats-than-clients", "more-seats"])
def test_rush_sells_exactly_the_capacity_and_tells_the_rest_sold_out(live_env, clients, capacity):
    scenario, spec, outcome, result = _run(live_env, clients, capacity)

    failed = [f"{c.name}: {c.detail}" for c in result.checks if not c.ok]
    assert failed == []
    assert len(result.checks) == 9
    # What the checks saw, checked again here from the database and the answers.
    with live_env.app_context() as db:
        tt = db.session.get(TicketType, spec["seeded"]["ticket_type_id"])
        assert tt.sold == capacity
        assert db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.ticket_type_id == tt.id)) == capacity
        emails = set(db.session.scalars(select(Order.buyer_email).where(Order.event_id == spec["seeded"]["event_id"])))
    assert len(emails) == capacity and all(e.startswith("rush-") for e in emails)
    assert result.counts == {"page 200": capacity + clients, "register 303": capacity, "register 409": clients}
    assert result.figures["registrations_per_s"] > 0 and result.figures["post_p99_ms"] > 0
    # The burst floor: the same clients, each as many requests as it sent in the rush, all answered.
    per_client = [r["requests"] for r in outcome["results"]]
    assert sum(per_client) == capacity * 2 + clients * 2 and all(n >= 2 for n in per_client)
    assert stats.status_counts(outcome["burst"]["samples"]) == {"burst 200": sum(per_client)}
    assert result.figures["burst_p99_ms"] > 0
    # Every second request of a client stands for a POST; the CAPACITY-th answered is the "last sale".
    answered = [r["posts_answered"] for r in outcome["burst"]["results"]]
    assert [len(a) for a in answered] == [n // 2 for n in per_client]
    assert all(a == sorted(a) and a[0] > 0 for a in answered)
    last_sale = sorted(t for a in answered for t in a)[capacity - 1]
    assert result.figures["burst_registrations_per_s"] == pytest.approx(capacity / last_sale)


def test_warm_up_has_no_burst_floor(live_env):
    scenario = _rush(2, 1)
    spec = scenario.warmup(live_env)
    assert "burst" not in scenario.run(live_env, spec)


def test_the_checks_catch_a_burst_floor_that_fell_short(live_env):
    scenario, spec, outcome, result = _run(live_env, 2, 1)
    assert result.ok
    outcome["burst"]["samples"].pop()
    outcome["burst"]["samples"][0][1] = 500
    failed = [c for c in scenario.evaluate(live_env, spec, outcome).checks if not c.ok]
    assert [c.name for c in failed] == ["burst floor: as many requests as the rush, every answer 200"]
    assert failed[0].detail.startswith(f"{len(outcome['burst']['samples']) - 1} of {len(outcome['burst']['samples'])} answered 200")


def test_following_the_redirect_loads_each_ticket_page(live_env):
    _, _, _, result = _run(live_env, 3, 4, follow=True)
    assert result.ok
    assert result.counts["ticket page 200"] == 4


def test_the_checks_catch_an_oversold_ticket_type(live_env):
    """A seat sold behind the rush's back (here: one more ticket than the capacity would allow if
    the rush had sold it) makes the database checks fail."""
    scenario = _rush(3, 4)
    spec = scenario.prepare(live_env, 1)
    outcome = scenario.run(live_env, spec)
    with live_env.app_context() as db:
        tt = db.session.get(TicketType, spec["seeded"]["ticket_type_id"])
        tt.capacity = 5
        db.session.commit()
        register_attendees(tt.event, buyer_name="Late Comer", buyer_email="late@example.org", quantities={tt.id: 1})
        db.session.commit()
    result = scenario.evaluate(live_env, spec, outcome)
    failed = {c.name for c in result.checks if not c.ok}
    assert failed == {"exactly 4 valid tickets in the database", "ticket_types.sold == 4",
                      "4 confirmed orders, one confirmation email queued for each"}


def test_the_checks_catch_a_server_error_and_an_unexpected_answer(live_env):
    scenario = _rush(2, 1)
    spec = scenario.prepare(live_env, 1)
    outcome = scenario.run(live_env, spec)
    assert scenario.evaluate(live_env, spec, outcome).ok
    # The same run, as if one sold-out answer had been a 500 page instead.
    samples = outcome["samples"]
    i = next(i for i, s in enumerate(samples) if s[0] == "register" and s[1] == 409)
    samples[i][1] = 500
    client = next(r for r in outcome["results"] if r.get("told sold out"))
    del client["told sold out"]
    client["unexpected POST 500"] = 1
    failed = {c.name for c in scenario.evaluate(live_env, spec, outcome).checks if not c.ok}
    assert "zero 5xx and zero requests without an answer" in failed
    assert "every other POST answered 409 with the sold-out message" in failed
    assert "every client was finally told sold out" in failed


def test_a_spread_rush_starts_its_clients_evenly_and_still_sells_exactly(live_env):
    scenario, spec, outcome, result = _run(live_env, 6, 3, spread=0.6)
    assert result.ok, [f"{c.name}: {c.detail}" for c in result.checks if not c.ok]
    assert scenario.name == "registration_rush 6x3 over 0.6 s" and "over 0.6 s" in scenario.describe()
    assert spec["params"]["spread"] == 0.6
    # Each client's first request went out no earlier than its place in the spread (i/N x 0.6 s).
    firsts = []
    for samples in _per_client(outcome["samples"], [r["requests"] for r in outcome["results"]]):
        firsts.append(samples[0][2])
    assert all(first >= i * 0.1 - 0.01 for i, first in enumerate(firsts)), firsts
    assert firsts[-1] >= 0.49
    bursts = _per_client(outcome["burst"]["samples"], [r["requests"] for r in outcome["results"]])
    assert bursts[-1][0][2] >= 0.49  # the burst floor is spread the same way


def _per_client(samples: list, counts: list[int]) -> list[list]:
    """The load generator lists each client's samples together, client by client."""
    out, at = [], 0
    for n in counts:
        out.append(samples[at:at + n])
        at += n
    return out
