"""Door check-in (issue 5 deliverable 7, issue 7): concurrent scanners over thousands of tickets.

Once per session a published event gets `--checkin-tickets` tickets (default 5,000), issued through
the registration service (`register_attendees`, orders of 10, as groups register), a check-in staff
member assigned to it, and her API token (`create_api_token`). Each run then takes the next third
of those tickets (a new event once all are in), and `--checkin-scanners` doors (default 20) scan at
once through the organizer API, `POST /api/v1/events/<slug>/checkins` with `{"secret", "door",
"request_id"}`: each door scans its share of the run's tickets once, then 20 of them again (a ticket
shown twice: "already_checked_in"), then 10 codes of nothing ("unknown"). Every lookup is among the
event's 5,000 tickets; issuing them once rather than per run keeps `make bench` under 10 minutes. (Two doors scanning one ticket at once is the check-in tests'
business; here every answer must be predictable, so a door only re-scans what it admitted itself.)

A door starts a scan every `--checkin-pace` seconds (default 0.2: 20 doors offer 100 scans a second,
far more than people walking through 20 doors, where a scan every 2 to 5 seconds per door is brisk),
from a random offset so the doors are not in lockstep. `--checkin-pace 0` fires the next scan as soon
as the answer is in, which measures capacity; latency is then mostly queueing (doors / throughput).

Figures: scans per second, latency percentiles of a scan (measured by the client), CPU per scan.
Checks: every ticket checked in exactly once (the tickets table and the scan log), every answer
the expected result, zero 5xx.
"""
from __future__ import annotations

import json
import random
import secrets
import time
import uuid
from collections import Counter

from bench import stats
from bench.scenarios import Check, Figure, RunResult, Scenario, Target, cpu_figures

MODULE = "bench.scenarios.checkin"
PARTS = 3  # each run scans a third of the session's event (3 runs by default)
ORDER_SIZE = 10
ALREADY_PER_DOOR = 20
UNKNOWN_PER_DOOR = 10
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def add_arguments(group) -> None:
    group.add_argument("--checkin-scanners", type=int, default=20, metavar="N", help="concurrent doors (default 20)")
    group.add_argument("--checkin-tickets", type=int, default=5000, metavar="N",
                       help="tickets issued for each run (default 5000)")
    group.add_argument("--checkin-pace", type=float, default=0.2, metavar="S",
                       help="seconds between the starts of a door's scans; 0: flat out (default 0.2)")
    group.add_argument("--checkin-time-limit", type=float, default=300, metavar="S",
                       help="no scan starts after this many seconds of a run (default 300)")


def scenarios(args) -> list[Scenario]:
    return [Checkin(args.checkin_scanners, args.checkin_tickets, args.checkin_pace, args.checkin_time_limit)]


class Checkin(Scenario):
    module = MODULE
    figures = [
        Figure("scans_per_s", "scans/s", "/s", 0),
        Figure("scan_p50_ms", "scan p50", "ms"),
        Figure("scan_p90_ms", "scan p90", "ms"),
        Figure("scan_p99_ms", "scan p99", "ms"),
        Figure("scan_max_ms", "scan max", "ms"),
        Figure("requests_per_s", "requests/s", "/s", 0),
        *cpu_figures({}, 0, "scan")[0],
    ]
    targets = [
        Target("scan_p50_ms", "<", 15, "scan p50 under 15 ms"),
        Target("scan_p99_ms", "<", 50, "scan p99 under 50 ms"),
    ]

    def __init__(self, scanners: int, tickets: int, pace: float, time_limit: float):
        self.scanners, self.tickets, self.pace, self.time_limit = scanners, tickets, pace, time_limit
        self.name = "checkin"
        # A paced run's requests/s is the pace, not a capacity: no ratio to the floor then.
        self.floor = "floor select1" if not pace else None
        self.title = f"Check-in: {scanners} doors scanning {tickets:,} tickets"
        self.skipped = self._endpoint_missing()
        self._state: dict | None = None  # the session's event and how many thirds of it were scanned

    @staticmethod
    def _endpoint_missing() -> str | None:
        try:
            import eventsite.checkin.api  # noqa: F401
        except ImportError:
            return "POST /api/v1/events/<slug>/checkins does not exist yet"
        return None

    def describe(self) -> str:
        pace = (f"a scan every {self.pace:g} s per door" if self.pace
                else "flat out (each door scans again as soon as it has the answer)")
        return (f"{self.scanners} doors scan through `POST /api/v1/events/<slug>/checkins` with a door staff "
                f"member's API token, {pace}. An event with {self.tickets:,} tickets (issued once, through "
                f"`register_attendees`, orders of {ORDER_SIZE}); each run takes the next third of them: each "
                f"door its share once, then {ALREADY_PER_DOOR} of them again, then {UNKNOWN_PER_DOOR} unknown "
                "codes. Checked: every ticket of the run admitted exactly once (tickets and scan log), every "
                "answer as expected, zero 5xx.")

    # -- data

    def _seed(self, env, tickets: int, label: str) -> dict:
        from bench import seed
        from eventsite.accounts.models import Role
        from eventsite.accounts.services import add_member, create_api_token, create_user
        from eventsite.events.staff import assign_door_events
        from eventsite.registration.services import register_attendees

        with env.app_context() as db:
            organizer = seed.organizer(env)
            event = seed.published_event(env, f"Gala Night: {label}", slug_prefix="checkin")
            tt = seed.free_ticket_type(event, tickets, max_per_order=ORDER_SIZE)
            staff = create_user(f"door-{secrets.token_hex(4)}@example.org", seed.PASSWORD, name="Door Staff")
            membership = add_member(organizer.memberships[0].organization, staff, Role.CHECKIN)
            assign_door_events(membership.id, [event.id], actor=organizer)
            _, token = create_api_token(staff, "bench scanner")
            db.session.commit()
            issued = 0
            n = 0
            while issued < tickets:
                size = min(ORDER_SIZE, tickets - issued)
                register_attendees(
                    event, buyer_name=f"Group Lead {n}", buyer_email=f"group-{n}@example.org",
                    quantities={tt.id: size}, attendees=[{"name": f"Guest {n}-{k}"} for k in range(1, size)])
                issued += size
                n += 1
                if n % 50 == 0:
                    db.session.commit()
            db.session.commit()
            from sqlalchemy import select

            from eventsite.registration.models import Ticket

            codes = list(db.session.scalars(select(Ticket.secret).where(Ticket.event_id == event.id).order_by(Ticket.id)))
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
            return {"event_id": event.id, "slug": event.slug, "token": token, "codes": codes}

    def _spec(self, seeded: dict, scanners: int, codes: list[str], pace: float, before: int = 0) -> dict:
        tickets_expected = len(codes)
        shares = [codes[i::scanners] for i in range(scanners)]
        plans = []
        for i in range(scanners):
            own = [[c, "ok"] for c in shares[i]]
            again = [[c, "already_checked_in"] for c in shares[i][:ALREADY_PER_DOOR]]
            unknown = [["".join(secrets.choice(ALPHABET) for _ in range(26)), "unknown"] for _ in range(UNKNOWN_PER_DOOR)]
            plans.append(own + again + unknown)
        return {
            "module": self.module, "clients": scanners, "time_limit": self.time_limit,
            "params": {"path": f"/api/v1/events/{seeded['slug']}/checkins", "token": seeded["token"],
                       "plans": plans, "pace": pace},
            "seeded": {k: v for k, v in seeded.items() if k != "codes"},
            "expected": {"tickets": tickets_expected, "before": before,
                         "already": sum(len(p) for p in plans) - tickets_expected - UNKNOWN_PER_DOOR * scanners},
        }

    def warmup(self, env) -> dict:
        seeded = self._seed(env, 100, "warm-up")
        return self._spec(seeded, min(self.scanners, 10), seeded["codes"], 0)

    def prepare(self, env, run: int) -> dict:
        state = self._state
        if state is None or state["next"] >= PARTS:  # the first run, or every third scanned: a new event
            t0 = time.monotonic()
            state = self._state = {"seeded": self._seed(env, self.tickets, f"run {run}"), "next": 0}
            env.log(f"checkin: {self.tickets:,} tickets issued in {time.monotonic() - t0:.1f} s")
        part = state["next"]
        state["next"] += 1
        every = state["seeded"]["codes"]
        before = sum(len(every[k::PARTS]) for k in range(part))  # checked in by the earlier runs
        return self._spec(state["seeded"], self.scanners, every[part::PARTS], self.pace, before)

    # -- results

    def evaluate(self, env, spec: dict, outcome: dict) -> RunResult:
        samples = outcome["samples"]
        scans = [s for s in samples if s[0] == "scan"]
        elapsed = outcome["elapsed"] or float("nan")
        results: Counter[str] = Counter()
        wrong = 0
        for r in outcome["results"]:
            results.update(r.get("results", {}))
            wrong += r.get("wrong", 0)
        figures = {
            "scans_per_s": len(scans) / elapsed,
            "requests_per_s": len(samples) / elapsed,
            **stats.latency_ms([s[3] for s in scans], "scan"),
            **cpu_figures(outcome, len(scans), "scan")[1],
        }
        expected = spec["expected"]
        db_state = self._database_state(env, spec["seeded"]["event_id"])
        fives = sum(1 for s in samples if s[1] >= 500)
        no_answer = sum(1 for s in samples if s[1] == 0)
        t, before = expected["tickets"], expected["before"]
        checks = [
            Check(f"all {t} tickets of the run checked in ({before} before it)",
                  db_state["checked_in"] == before + t, f"{db_state['checked_in'] - before}"),
            Check("one `ok` in the scan log per ticket, none twice",
                  db_state["ok_rows"] == before + t and db_state["most_ok_per_ticket"] == 1,
                  f"{db_state['ok_rows']} ok rows, at most {db_state['most_ok_per_ticket']} per ticket"),
            Check(f"{t} answered ok, {expected['already']} already_checked_in, "
                  f"{UNKNOWN_PER_DOOR * len(spec['params']['plans'])} unknown",
                  results.get("ok") == t and results.get("already_checked_in") == expected["already"]
                  and results.get("unknown") == UNKNOWN_PER_DOOR * len(spec["params"]["plans"])
                  and sum(results.values()) == len(scans),
                  ", ".join(f"{k}: {v}" for k, v in sorted(results.items()))),
            Check("every scan got the answer its door expected", wrong == 0, f"{wrong} differed"),
            Check("zero 5xx and zero requests without an answer", fives == 0 and no_answer == 0,
                  f"{fives} 5xx, {no_answer} without an answer"),
            Check("no client error", not outcome["errors"], "; ".join(outcome["errors"][:3])),
        ]
        return RunResult(figures, checks, stats.status_counts(samples))

    @staticmethod
    def _database_state(env, event_id: int) -> dict:
        from sqlalchemy import func, select

        from eventsite.checkin.models import Scan
        from eventsite.registration.models import Ticket

        with env.app_context() as db:
            checked_in = db.session.scalar(select(func.count()).select_from(Ticket).where(
                Ticket.event_id == event_id, Ticket.checked_in_at.is_not(None)))
            per_ticket = (select(func.count().label("n")).select_from(Scan)
                          .where(Scan.event_id == event_id, Scan.result == "ok").group_by(Scan.ticket_id).subquery())
            ok_rows = db.session.scalar(select(func.coalesce(func.sum(per_ticket.c.n), 0)))
            most = db.session.scalar(select(func.coalesce(func.max(per_ticket.c.n), 0)))
            return {"checked_in": checked_in, "ok_rows": ok_rows, "most_ok_per_ticket": most}


def client(http, params: dict, index: int) -> dict:
    """One door: scans its plan, one scan every `pace` seconds (or back to back)."""
    headers = {"Authorization": f"Bearer {params['token']}"}
    pace = params["pace"]
    door = f"Door {index % 4 + 1}"
    results: Counter[str] = Counter()
    wrong = 0
    next_at = time.perf_counter() + random.uniform(0, pace)
    for code, expected in params["plans"][index]:
        if pace:
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += pace
        answer = http.post_json(params["path"], {"secret": code, "door": door, "request_id": uuid.uuid4().hex},
                                label="scan", headers=headers)
        if answer.status in (200, 201):
            result = json.loads(answer.body).get("result", "?")
        else:
            result = f"http {answer.status}"
        results[result] += 1
        wrong += result != expected
    return {"results": dict(results), "wrong": wrong}
