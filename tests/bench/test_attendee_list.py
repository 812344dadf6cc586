"""The attendee list scenario's own checks at small scale: the bulk-inserted attendees are what the
list and the export show, and the export's row count is checked. No timing is asserted here."""
from __future__ import annotations

from sqlalchemy import func, select

from bench.scenarios.attendee_list import AttendeeList
from eventsite.events.models import Event, TicketType
from eventsite.registration.models import Order, Ticket, TicketStatus


def test_organizers_read_every_page_and_the_export_has_every_attendee(live_env):
    scenario = AttendeeList(attendees=120, clients=2, seconds=0.5, exports=2)
    scenario.setup(live_env)
    seeded = live_env.shared["attendee_list"]
    with live_env.app_context() as db:
        event = db.session.get(Event, seeded["event_id"])
        tickets = db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.event_id == event.id))
        valid = db.session.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.event_id == event.id, Ticket.status == TicketStatus.VALID))
        orders = db.session.scalar(select(func.count()).select_from(Order).where(Order.event_id == event.id))
        [tt] = db.session.scalars(select(TicketType).where(TicketType.event_id == event.id)).all()
        assert tickets == 120 and 60 < orders < 120
        assert tt.sold == event.sold == valid == seeded["valid"] < 120  # a few cancelled tickets

    spec = scenario.prepare(live_env, 1)
    outcome = live_env.run_load(spec)
    result = scenario.evaluate(live_env, spec, outcome)
    assert [f"{c.name}: {c.detail}" for c in result.checks if not c.ok] == []
    assert result.counts["login 303"] == 2 and result.counts["export 200"] == 2
    assert result.counts["list 200"] >= 3
    assert outcome["results"][0]["csv_rows"] == [120, 120]
    assert result.figures["export_max_ms"] > 0 and result.figures["list_p99_ms"] > 0


def test_the_checks_catch_an_export_with_a_row_missing(live_env):
    scenario = AttendeeList(attendees=30, clients=1, seconds=0.2, exports=1)
    scenario.setup(live_env)
    spec = scenario.prepare(live_env, 1)
    spec["params"]["total"] = 31  # one attendee more than the export can have
    failed = {c.name for c in scenario.evaluate(live_env, spec, live_env.run_load(spec)).checks if not c.ok}
    assert "every CSV export 200 with exactly 31 data rows" in failed
    assert "every list page 200 with its rows and the total (31)" in failed
