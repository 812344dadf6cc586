"""Follow-up planning (issue 6 deliverable 9, issue 7): the day-after step for 10,000 attendees.

The first run seeds a published event that ended yesterday evening (Europe/Berlin), with its tag
list and plan saved through `update_settings`, and `--followup-attendees` (10,000) eligible
attendees: a confirmed order and a valid, checked-in ticket each, and a consenting networking
profile whose offers and asks are 1-3 tags of the event's list (some tags far more popular than
others, as in life), a company (some shared by many), a one-line intro and sometimes a sentence
and a LinkedIn link. Around them, people the step must leave out: registered but not checked in,
checked in without consent, unsubscribed, and checked in without a profile. The rows are written
with bulk INSERTs (the services would take minutes for 12,000 registrations), with the values the
services write. Every later run first undoes what the step wrote for the event (`undo_step`: its
suggestions, its run records and its outbox rows, then VACUUM ANALYZE of those tables), so each run
measures the same step on the same data: seeding 12,000 attendees per run made `make bench` overrun
its 10 minutes.

Then the worker's periodic task `connections.send_follow_ups(now)` (match, store the suggestions,
queue one email per attendee as a deferred outbox row that the delivery workers render when they
send it: the outbox_delivery scenario measures that part), taken from the task registry and run as `run_due_tasks`
runs it (alone: `now` may be ahead of the clock, and the other tasks must not run at a shifted
clock), runs in a separate process (`python -m bench.scenarios.followup_planning`), started on the
app as production configures it.
`now` is the real time, or the step's due time (10:00 in Berlin) when that is still ahead.
Figures: the step's wall time inside that process, the process's peak RSS (`ru_maxrss`, read with
`wait4`) and CPU time. The step then runs a second time, in another process, which must add nothing.

Checks: exactly one day-after email in the outbox per eligible attendee and none for anyone else,
the run recorded done with that count, and the second run queued nothing.
"""
from __future__ import annotations

import cProfile
import json
import os
import random
import resource
import secrets
import sys
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.scenarios import Check, Figure, RunResult, Scenario, Target

MODULE = "bench.scenarios.followup_planning"
ZONE = "Europe/Berlin"
TAGS = [
    "Negotiating a raise", "Board governance", "Public speaking", "Fundraising", "Hiring", "AI strategy",
    "Career change", "Mentoring", "Finance", "Leadership", "Product management", "Non-executive roles",
    "Charity trusteeship", "Returning from leave", "Starting a company", "Managing managers",
]
FIRST = ["Ada", "Amara", "Beatriz", "Chloe", "Dana", "Deepa", "Eilidh", "Fatima", "Grace", "Hannah", "Ifeoma",
         "Jessica", "Kavya", "Laura", "Mei", "Nadia", "Olivia", "Priya", "Rosa", "Sofia", "Tamar", "Uma",
         "Vera", "Wanjiru", "Ximena", "Yara", "Zoe", "Aisha", "Brigitte", "Carmen", "Ingrid", "Leila"]
LAST = ["Okafor", "Santos", "Martin", "Raman", "MacLeod", "Haddad", "Liu", "Becker", "Nwosu", "Turner", "Iyer",
        "Kowalski", "Tanaka", "Rahman", "Brennan", "Shah", "Müller", "García", "Rossi", "Novak", "Andersen",
        "O'Neil", "Dubois", "Silva", "Kim", "Nakamura", "Cohen", "Fischer", "Jansen", "Larsen", "Moreau", "Popescu"]
ROLES = ["Finance director", "Engineering manager", "Head of product", "Founder", "HR director", "Chartered accountant",
         "Fundraising lead", "Operations manager", "CTO", "Solicitor", "Consultant", "Teacher", "Researcher"]
TIME_LIMIT_S = 300
TASK = "connections.send_follow_ups"  # the worker's periodic task that plans and queues the follow-ups
MAX_POLLS = 10
QUEUED = "followup_planning queued"  # env.shared: the emails a run queued, for outbox_delivery (`take_queued`)


def add_arguments(group) -> None:
    group.add_argument("--followup-attendees", type=int, default=10_000, metavar="N",
                       help="eligible profiled attendees of the event (default 10000)")


def scenarios(args) -> list[Scenario]:
    return [FollowupPlanning(args.followup_attendees)]


class FollowupPlanning(Scenario):
    module = MODULE
    floor = None
    figures = [
        Figure("step_s", "day-after step, wall time", "s", 2),
        Figure("plan_s", "of which matching and storing the suggestions", "s", 2),
        Figure("queue_s", "of which queueing the emails (deferred rows: the workers render them)", "s", 2),
        Figure("peak_rss_mb", "peak RSS of the step's process (VmHWM)", "MB", 0),
        Figure("ru_maxrss_mb", "its ru_maxrss (includes the bench process's size at fork)", "MB", 0),
        Figure("step_cpu_s", "CPU time of the step (in its process)", "s", 2),
        Figure("db_cpu_s", "PostgreSQL CPU time of the step", "s", 2),
        Figure("polls", "worker polls it took (the task's time budget is 50 s)", "", 0),
        Figure("emails", "emails queued", "", 0),
        Figure("emails_per_s", "emails planned and queued per second", "/s", 0),
        Figure("suggestions", "suggestions stored", "", 0),
        Figure("rerun_s", "second run (nothing to do), wall time", "s", 2),
        Figure("seed_s", "seeding (first run) or undoing the previous run's step (later runs)", "s", 1),
    ]
    targets = [
        Target("step_s", "<", 10, "day-after step under 10 s"),
        Target("peak_rss_mb", "<", 300, "peak memory under 300 MB"),
    ]

    def __init__(self, attendees: int, *, extras: bool = True):
        self.attendees = attendees
        self.extras = extras
        self.name = "followup_planning"
        self.title = f"Follow-up planning: the day-after step for {attendees:,} profiled attendees"
        self._seeded: dict | None = None  # the session's event (seeded by the first run)

    def describe(self) -> str:
        return (f"A published event that ended yesterday evening ({ZONE}) with {self.attendees:,} eligible "
                "attendees (confirmed order, checked-in ticket, consenting profile with 1-3 offers and asks "
                f"from its {len(TAGS)} tags), plus registered-not-checked-in, non-consenting, unsubscribed and "
                "profile-less attendees the step must leave out; written with bulk INSERTs by the first run, "
                "each later run first undoing what the step wrote (suggestions, run records, emails). The worker's "
                "periodic task `connections.send_follow_ups` (as `run_due_tasks` runs it: match, store the "
                "suggestions, queue every email as a deferred row the delivery workers render) runs in a process of its own; its wall time, peak "
                "RSS (VmHWM) and CPU, and PostgreSQL's CPU. Checked: one day-after email per eligible attendee and "
                "none for anyone else, the run done, and a second run adds nothing.")

    # -- data

    def prepare(self, env, run: int) -> dict:
        t0 = time.monotonic()
        if self._seeded is None:
            self._seeded = seed_event(env, self.attendees, label="the follow-up benchmark", seed=1,
                                      extras=self.extras)
            done = f"seeded in {time.monotonic() - t0:.1f} s"
        else:
            undo_step(env, self._seeded["event_id"])
            done = f"the previous run's step undone in {time.monotonic() - t0:.1f} s"
        spec = {**self._seeded, **step_inputs(env, self._seeded["event_id"]), "seed_s": time.monotonic() - t0}
        env.log(f"followup_planning run {run}: {spec['eligible_count']:,} eligible attendees "
                f"({spec['tickets']:,} tickets) {done}; step at {spec['now']}")
        return spec

    def run(self, env, spec: dict) -> dict:
        from bench.app_process import app_env, run_python

        process_env = app_env(env)
        payload = {"now": spec["now"]}
        first = run_python(MODULE, payload, process_env, timeout=TIME_LIMIT_S)
        second = run_python(MODULE, payload, process_env, timeout=TIME_LIMIT_S)
        return {"first": first.__dict__, "second": second.__dict__}

    # -- results

    def evaluate(self, env, spec: dict, outcome: dict) -> RunResult:
        first, second = outcome["first"], outcome["second"]
        state = _database_state(env, spec["event_id"], set(spec["eligible"]), spec["outbox_before"])
        emails = state["followups"]
        step_s = first["answer"].get("step_s", float("nan"))
        figures = {
            "step_s": step_s,
            "plan_s": first["answer"].get("plan_s", float("nan")),
            "queue_s": step_s - first["answer"].get("plan_s", float("nan")),
            "peak_rss_mb": first["answer"].get("peak_rss_mb", float("nan")),
            "ru_maxrss_mb": first["max_rss_mb"],
            "step_cpu_s": first["answer"].get("step_cpu_s", float("nan")),
            "polls": first["answer"].get("polls", float("nan")),
            "db_cpu_s": first["answer"].get("db_cpu_s", float("nan")),
            "emails": emails,
            "emails_per_s": emails / step_s if step_s else float("nan"),
            "suggestions": state["suggestions"],
            "rerun_s": second["answer"].get("step_s", float("nan")),
            "seed_s": spec["seed_s"],
        }
        n = len(spec["eligible"])
        errors = [e for r in (first, second) for e in r["answer"].get("task_errors", [])]
        checks = [
            Check("the step's process ran every task without an error",
                  first["returncode"] == 0 and second["returncode"] == 0 and not errors,
                  f"exit {first['returncode']}/{second['returncode']}; task errors: {', '.join(errors) or 'none'}"),
            Check(f"one day-after email per eligible attendee ({n:,}), none for anyone else",
                  state["missing"] == 0 and state["unexpected"] == 0 and emails == n,
                  f"{emails:,} queued, {state['missing']} eligible without one, {state['unexpected']} not eligible with one"),
            Check("one email per recipient address", state["most_per_address"] == 1,
                  f"at most {state['most_per_address']} to one address"),
            Check("the day-after run is recorded done with that count",
                  state["run_status"] == "done" and state["run_queued"] == n,
                  f"{state['run_status']}, queued {state['run_queued']}"),
            Check("running it again adds nothing",
                  second["answer"].get("queued") == 0 and state["outbox_rows"] - spec["outbox_before"] == emails,
                  f"second run queued {second['answer'].get('queued')}; outbox grew by "
                  f"{state['outbox_rows'] - spec['outbox_before']:,}"),
        ]
        notes = [f"step at {spec['now']}; {state['suggestions']:,} suggestions for {state['planned']:,} people"]
        if errors:
            notes.append(f"the step's process logged: {first['stderr_tail'][-2000:]}")
        env.shared.pop(QUEUED, None)
        if all(c.ok for c in checks):
            env.shared[QUEUED] = {"after_id": spec["outbox_last_id"], "emails": emails, "step_s": step_s}
        return RunResult(figures, checks, notes=notes)


# --- seeding ------------------------------------------------------------------------------------

def _weighted_tags(rng: random.Random, weights: list[float], k: int, avoid: set[str] = frozenset()) -> list[str]:
    out: list[str] = []
    while len(out) < k:
        tag = rng.choices(TAGS, weights)[0]
        if tag not in out and tag not in avoid:
            out.append(tag)
    return out


def _ascii(name: str) -> str:
    """"Müller" -> "muller", "O'Neil" -> "oneil": the local part people use for such names."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def _event_times(now: datetime) -> tuple[datetime, datetime]:
    """An evening event yesterday in Berlin: 18:00 to 21:00 local."""
    zone = ZoneInfo(ZONE)
    yesterday = now.astimezone(zone).date() - timedelta(days=1)
    starts = datetime(yesterday.year, yesterday.month, yesterday.day, 18, tzinfo=zone)
    return starts.astimezone(UTC), (starts + timedelta(hours=3)).astimezone(UTC)


def seed_event(env, attendees: int, *, label: str, seed: int, extras: bool = True) -> dict:
    """The past event and its attendees (see the module doc). Returns what the checks need (with
    `step_inputs`, what the step starts from)."""
    from sqlalchemy import insert, select, update

    from bench import seed as bench_seed
    from eventsite.connections import event_settings
    from eventsite.connections.models import NetworkingProfile
    from eventsite.core.db import utcnow
    from eventsite.core.security import random_token
    from eventsite.events.models import Event, TicketType
    from eventsite.registration.models import Order, Ticket

    rng = random.Random(seed)
    real_now = utcnow()
    starts, ends = _event_times(real_now)
    # Who is there: the eligible, then the ones the step must leave out.
    groups = [("eligible", attendees)]
    if extras:
        groups += [("not_checked_in", max(attendees // 20, 2)), ("no_consent", max(attendees // 25, 2)),
                   ("unsubscribed", max(attendees // 100, 1)), ("no_profile", max(attendees // 10, 2))]
    total = sum(n for _, n in groups)
    with env.app_context() as db:
        event = bench_seed.published_event(env, f"Leadership Evening: {label}", slug_prefix="followup",
                                           starts_at=starts.isoformat(), ends_at=ends.isoformat(), timezone=ZONE)
        tt = bench_seed.free_ticket_type(event, total, name="Evening ticket", max_per_order=1)
        event_settings.update_settings(event, enabled=True, audience="checked_in", tags="\n".join(TAGS),
                                       steps={"day_after": (True, 1), "keep_in_touch": (True, 30),
                                              "reconnect": (True, 90)}, send_hour=10)
        db.session.commit()
        event_id, tt_id, currency = event.id, tt.id, event.currency
        registered = starts - timedelta(days=10)
        tag_weights = [1 / (n + 1) ** 0.8 for n in range(len(TAGS))]  # a few popular tags, a long tail
        companies = [f"{rng.choice(LAST)} {rng.choice(['Partners', 'Group', 'Labs', 'Trust', 'Systems', 'Capital', 'Studio', 'Health'])}"
                     for _ in range(attendees // 4 + 1)]
        company_weights = [1 / (n + 1) for n in range(len(companies))]

        people = []
        for group, n in groups:
            for _ in range(n):
                i = len(people)
                first, last = rng.choice(FIRST), rng.choice(LAST)
                people.append({"i": i, "group": group, "name": f"{first} {last}",
                               "email": f"{_ascii(first)}.{_ascii(last)}.{seed}-{i}@example.org"})
        token = secrets.token_hex(4)
        orders = [{
            "event_id": event_id, "code": f"B{token}{p['i']:07d}"[:16], "token": random_token(),
            "buyer_name": p["name"], "buyer_email": p["email"], "status": "confirmed", "source": "public",
            "total_cents": 0, "currency": currency, "answers": {}, "confirmation_count": 0,
            "created_at": registered + timedelta(minutes=p["i"] % 5000), "confirmed_at": registered + timedelta(minutes=p["i"] % 5000),
        } for p in people]
        _bulk(db, insert(Order), orders)
        order_ids = dict(db.session.execute(select(Order.token, Order.id).where(Order.event_id == event_id)).all())
        tickets = [{
            "order_id": order_ids[o["token"]], "event_id": event_id, "ticket_type_id": tt_id,
            "secret": random_token(), "attendee_name": p["name"], "attendee_email": p["email"], "price_cents": 0,
            "status": "valid", "created_at": o["created_at"],
            "checked_in_at": None if p["group"] == "not_checked_in" else starts + timedelta(seconds=(p["i"] * 7) % 5400),
        } for p, o in zip(people, orders, strict=True)]
        _bulk(db, insert(Ticket), tickets)
        ticket_ids = dict(db.session.execute(select(Ticket.attendee_email, Ticket.id).where(Ticket.event_id == event_id)).all())
        profiles = []
        for p in people:
            if p["group"] == "no_profile":
                continue
            offers = _weighted_tags(rng, tag_weights, rng.choice((1, 1, 2, 2, 2, 3)))
            asks = _weighted_tags(rng, tag_weights, rng.choice((1, 2, 2, 3)), avoid=set(offers))
            consent = p["group"] != "no_consent"
            profiles.append({
                "event_id": event_id, "ticket_id": ticket_ids[p["email"]], "email": p["email"], "name": p["name"],
                "intro": f"{rng.choice(ROLES)}, here to meet people working on {offers[0].lower()}.",
                "company": rng.choices(companies, company_weights)[0] if rng.random() < 0.9 else "",
                "offers": offers, "asks": asks,
                "offers_text": f"Happy to share what I learned about {offers[0].lower()}." if rng.random() < 0.5 else "",
                "asks_text": f"I'd love advice on {asks[0].lower()}." if rng.random() < 0.4 else "",
                "linkedin_url": f"https://www.linkedin.com/in/{p['email'].split('@')[0]}" if rng.random() < 0.3 else "",
                "website_url": "",
                "consent_to_suggest": consent, "consented_at": registered if consent else None,
                "unsubscribed_at": ends + timedelta(minutes=30) if p["group"] == "unsubscribed" else None,
                "link_key": random_token(80), "created_at": registered, "updated_at": registered,
            })
        _bulk(db, insert(NetworkingProfile), profiles)
        db.session.execute(update(TicketType).where(TicketType.id == tt_id).values(sold=total))
        db.session.execute(update(Event).where(Event.id == event_id).values(sold=total))
        db.session.commit()
        eligible_emails = {p["email"] for p in people if p["group"] == "eligible"}
        eligible = [pid for pid, email in db.session.execute(
            select(NetworkingProfile.id, NetworkingProfile.email).where(NetworkingProfile.event_id == event_id))
            if email in eligible_emails]
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("ANALYZE"))
        db.session.commit()
    return {"event_id": event_id, "eligible": eligible, "eligible_count": len(eligible), "tickets": total}


def step_inputs(env, event_id: int) -> dict:
    """What one run of the step starts from: its `now` (the real time, or the step's due time while
    that is ahead), the outbox's size before it (the checks count what it added) and its last row."""
    from sqlalchemy import func, select

    from eventsite.connections import event_settings, plan
    from eventsite.core.db import utcnow
    from eventsite.core.mail.models import OutboxMessage
    from eventsite.events.models import Event

    with env.app_context() as db:
        event = db.session.get(Event, event_id)
        timing = plan.schedule(event.ends_at, event.timezone, event_settings.settings_for(event))[0]
        return {"now": max(utcnow(), timing.due_at).isoformat(),
                "outbox_before": db.session.scalar(select(func.count()).select_from(OutboxMessage)),
                "outbox_last_id": db.session.scalar(select(func.max(OutboxMessage.id))) or 0}


def take_queued(env, emails: int) -> dict | None:
    """The day-after emails the latest run of this scenario queued, if it passed its checks and
    queued exactly `emails`: {"after_id", "emails", "step_s"}; taken once. outbox_delivery, which
    runs next in the same round, delivers those instead of seeding and planning 10,000 more of the
    same (it does that itself when this scenario did not run). The next run of this scenario
    deletes them again (`undo_step`), delivered or not."""
    queued = env.shared.pop(QUEUED, None)
    return queued if queued and queued["emails"] == emails else None


def undo_step(env, event_id: int) -> None:
    """Delete everything the follow-up steps wrote for the event: its suggestions, its run records
    (`follow_up_runs`), its profiles' outbox rows (`followup:<step>:<profile id>`, queued or sent) and
    the plan's "finished" mark; then VACUUM ANALYZE those tables, so the next run inserts into the same
    tables with the same statistics as the first. Nothing else is written by the step (the
    renderer only fills in its own outbox row; introductions are made by people, not by the plan)."""
    from sqlalchemy import String, cast, delete, literal, select, update

    from eventsite.connections.models import (
        STEPS,
        ConnectionSettings,
        FollowUpRun,
        NetworkingProfile,
        Suggestion,
    )
    from eventsite.core.mail.models import OutboxMessage

    with env.app_context() as db:
        for step in STEPS:  # emails.followup_key(step, profile id), as SQL
            keys = select(literal(f"followup:{step.value}:") + cast(NetworkingProfile.id, String)).where(
                NetworkingProfile.event_id == event_id)
            db.session.execute(delete(OutboxMessage).where(OutboxMessage.key.in_(keys)),
                               execution_options={"synchronize_session": False})
        db.session.execute(delete(Suggestion).where(Suggestion.event_id == event_id))
        db.session.execute(delete(FollowUpRun).where(FollowUpRun.event_id == event_id))
        db.session.execute(update(ConnectionSettings).where(ConnectionSettings.event_id == event_id)
                           .values(finished_at=None))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            tables = ", ".join(t.__tablename__ for t in (OutboxMessage, Suggestion, FollowUpRun))
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM ANALYZE {tables}")


def _bulk(db, statement, rows: list[dict], size: int = 2000) -> None:
    for start in range(0, len(rows), size):
        db.session.execute(statement, rows[start:start + size])


def _database_state(env, event_id: int, eligible: set[int], outbox_before: int) -> dict:
    from sqlalchemy import func, select

    from eventsite.connections.models import FollowUpRun, NetworkingProfile, Step, Suggestion
    from eventsite.core.mail.models import OutboxMessage

    with env.app_context() as db:
        ids = set(db.session.scalars(select(NetworkingProfile.id).where(NetworkingProfile.event_id == event_id)))
        keyed: dict[int, str] = {}
        addresses: dict[str, int] = {}
        for key, to in db.session.execute(
                select(OutboxMessage.key, OutboxMessage.to_addr).where(OutboxMessage.key.like("followup:day_after:%"))):
            pid = int(key.rsplit(":", 1)[1])
            if pid in ids:
                keyed[pid] = to
                addresses[to] = addresses.get(to, 0) + 1
        run = db.session.scalar(select(FollowUpRun).where(FollowUpRun.event_id == event_id,
                                                          FollowUpRun.step == Step.DAY_AFTER))
        return {
            "followups": len(keyed),
            "missing": len(eligible - set(keyed)),
            "unexpected": len(set(keyed) - eligible),
            "most_per_address": max(addresses.values(), default=0),
            "run_status": run.status.value if run else "none",
            "run_queued": run.queued if run else 0,
            "planned": run.planned if run else 0,
            "suggestions": db.session.scalar(select(func.count()).select_from(Suggestion).where(
                Suggestion.event_id == event_id, Suggestion.step == Step.DAY_AFTER)),
            "outbox_rows": db.session.scalar(select(func.count()).select_from(OutboxMessage)),
        }


# --- the step's own process: `python -m bench.scenarios.followup_planning` -----------------------

def main() -> None:
    """Run the follow-up task at the given `now`, poll after poll as `flask worker` would until it
    has done everything due; print {"step_s", "plan_s", "queued", "polls", "task_errors", ...} as JSON."""
    payload = json.loads(sys.stdin.read())
    now = datetime.fromisoformat(payload["now"])
    from eventsite import create_app
    from eventsite.connections import plan

    app = create_app()
    profile = os.environ.get("BENCH_FOLLOWUP_PROFILE")  # cProfile's stats (CPU time) to PATH.<pid>
    # Measured, not changed: how long the matching and storing of the suggestions (`plan_step`) take,
    # the rest of the step being the queueing of the emails (deferred rows, rendered by the workers).
    plan_s = []
    real_plan_step = plan.plan_step

    def timed_plan_step(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real_plan_step(*args, **kwargs)
        finally:
            plan_s.append(time.perf_counter() - t0)

    plan.plan_step = timed_plan_step
    with app.app_context():
        profiler = cProfile.Profile(time.process_time) if profile else None
        db_cpu_before = database_cpu_s()
        started = time.perf_counter()
        cpu_started = time.process_time()
        if profiler:
            profiler.enable()
        # As the worker does, poll after poll: the task stops after its time budget (50 s) and the
        # next poll carries on, so on a slow machine the step takes more than one poll.
        queued, polls, errors = 0, 0, []
        budget = float(app.config.get("CONNECTIONS_TIME_BUDGET_SECONDS", plan.TIME_BUDGET_SECONDS))
        while polls < MAX_POLLS:
            poll_started = time.monotonic()
            done, error = _run_task(TASK, now)
            polls += 1
            errors += [TASK] if error else []
            queued += done
            if not done or error or time.monotonic() - poll_started < budget:
                break  # within its budget the task did everything that was due
        if profiler:
            profiler.disable()
            profiler.dump_stats(f"{profile}.{os.getpid()}")
        step_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        db_cpu_s = database_cpu_s() - db_cpu_before
    print(json.dumps({"step_s": step_s, "plan_s": sum(plan_s), "step_cpu_s": cpu_s, "db_cpu_s": db_cpu_s, "queued": queued, "polls": polls,
                      "task_errors": errors, "peak_rss_mb": peak_rss_mb()}))


def _run_task(name: str, now: datetime) -> tuple[int, bool]:
    """One registered task as `run_due_tasks` runs it (committed, or rolled back and logged), alone:
    `now` may be ahead of the clock (the step's due time), and the other periodic tasks (seat holds,
    waitlist offers) must not run at a shifted clock on the other scenarios' data."""
    import logging

    from eventsite.core.tasks import registered_tasks
    from eventsite.extensions import db

    try:
        result = registered_tasks()[name](now)
        db.session.commit()
    except Exception:  # noqa: BLE001 - reported as a failed check
        db.session.rollback()
        logging.getLogger(__name__).exception("task %s failed", name)
        return 0, True
    return int(result or 0), False


def database_cpu_s() -> float:
    """CPU seconds so far of the PostgreSQL backends serving this app's database (their process
    title names it; the bench database is ours alone), NaN on SQLite."""
    from bench.harness import _cpu_seconds, _processes
    from eventsite.extensions import db

    if db.engine.dialect.name != "postgresql":
        return float("nan")
    name = db.engine.url.database
    return sum(_cpu_seconds(pid) for pid, _, cmd in _processes() if cmd.startswith("postgres:") and f" {name} " in cmd)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Unlike `ru_maxrss`, which Linux carries over from
    the parent through fork and exec (so a child of a 170 MB bench process reports at least 170 MB),
    it counts only what this program's own address space ever held."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
