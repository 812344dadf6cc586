"""Outbox delivery (issue 6 deliverable 9, issue 7): 10,000 day-after follow-ups, two worker processes.

What is delivered: `--outbox-emails` (10,000) day-after follow-ups, queued by the real day-after
step as *deferred* rows (ids only, renderer "connections.followup"), exactly as production does.
When the follow-up planning scenario ran just before in the same round and queued exactly that many
(`followup_planning.take_queued`: its run passed its checks), these are its emails: its step is the
same step, so planning 10,000 more for a second event would only add minutes to `make bench`. Run
alone (or with another `--followup-attendees`), the scenario makes its own: its first run seeds a
past event with that many eligible profiled attendees (`followup_planning.seed_event`, without the
people the step leaves out), every later run first undoes what the previous run's step wrote for it
(`followup_planning.undo_step`: suggestions, run records, the sent rows), and each run then runs the
day-after step (`plan.run_event`, as the worker's periodic task does) in the bench process. Either
way every run delivers the same number of the same kind of email for the same data.

Every other pending message of the session (the registration confirmations and follow-ups other
scenarios queued) is set aside first by moving its `next_attempt_at` a year ahead; they are put
back after the run. Then `--outbox-workers` (2) processes of `flask --app eventsite worker` start,
exactly as production runs them (the app
configured by the environment, `EVENTSITE_ENV=production` under the harness), against the bench
database and the harness's SMTP sink, which records each message's Message-ID and arrival time.
So the workers render every follow-up (templates, links, the consent checks, their queries) and
build and send it: the delivery rate includes the rendering, as in production.

Figures: emails per second from the first arrival to the last (the workers' start-up, about a
second of imports, is left out; it is reported separately as the time to the first email), and
the workers' CPU per email (their own rusage). When the sink has them all, the workers get SIGTERM
and must stop within 15 s with exit status 0.

Checks: exactly N messages arrived, no Message-ID twice, every queued Message-ID arrived, every
outbox row of the run marked sent (none failed: nothing withdrew its consent), the workers stopped
cleanly.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta

from bench.scenarios import Check, Figure, RunResult, Scenario, Target

PARK_YEARS = 1
TIME_LIMIT_S = 180
STOP_GRACE_S = 15


def add_arguments(group) -> None:
    group.add_argument("--outbox-emails", type=int, default=10_000, metavar="N",
                       help="emails queued for each run (default 10000)")
    group.add_argument("--outbox-workers", type=int, default=2, metavar="N",
                       help="`flask worker` processes (default 2)")


def scenarios(args) -> list[Scenario]:
    return [OutboxDelivery(args.outbox_emails, args.outbox_workers)]


class OutboxDelivery(Scenario):
    floor = None
    figures = [
        Figure("emails_per_s", "emails/s (first to last arrival)", "/s", 0),
        Figure("overall_per_s", "emails/s including worker start-up", "/s", 0),
        Figure("first_email_s", "time to the first email (start-up)", "s", 2),
        Figure("delivery_s", "first to last arrival", "s", 2),
        Figure("worker_cpu_ms", "worker CPU per email (both processes)", "ms", 2),
        Figure("enqueue_s", "the day-after step that queued them (matching included; not delivery)", "s", 2),
        Figure("seed_s", "seeding the event (first run) or undoing the previous run (not delivery; – when "
               "followup_planning queued them)", "s", 1),
    ]
    targets = [Target("emails_per_s", ">=", 200, "at least 200 emails/s with two workers")]

    def __init__(self, emails: int, workers: int = 2, *, time_limit: float = TIME_LIMIT_S):
        self.emails, self.workers, self.time_limit = emails, workers, time_limit
        self.name = "outbox_delivery"
        self.title = f"Outbox delivery: {emails:,} emails, {workers} worker processes"
        self._event_id: int | None = None  # the session's event (seeded by the first run)

    def describe(self) -> str:
        return (f"{self.emails:,} day-after follow-ups queued by the real day-after step as deferred rows the "
                "workers render when they send them: those the follow-up planning run of the same round queued, "
                "or (run alone) the scenario's own, for a past event seeded once, each run undoing the previous "
                "run's step first; "
                f"{self.workers} `flask --app eventsite worker` processes, configured as in "
                "production, render and deliver them to the harness's SMTP sink. Other pending mail of the session "
                "is set aside during the run. Rate from the first arrival to the last (rendering included); the "
                "workers' CPU per email. "
                "Checked: exactly that many arrived, no Message-ID twice, each queued one arrived, every row "
                "sent, the workers stopped cleanly on SIGTERM.")

    # -- data

    def prepare(self, env, run: int) -> dict:
        from bench.scenarios.followup_planning import take_queued

        queued_by = take_queued(env, self.emails)  # the follow-up scenario's, just before in this round
        if queued_by:
            after = queued_by["after_id"]
            parked_at, parked = _park_others(env, after)
            enqueue_s, seed_s = queued_by["step_s"], float("nan")
            how = f"by followup_planning's step of this round ({enqueue_s:.1f} s)"
        else:
            t0 = time.monotonic()
            done = self._seed_or_undo(env)
            seed_s = time.monotonic() - t0
            after = _last_outbox_id(env)  # after the undo: SQLite reuses the ids of deleted rows
            parked_at, parked = _park_others(env, after)
            t0 = time.monotonic()
            self._queue(env)
            enqueue_s = time.monotonic() - t0
            how = f"by the step in {enqueue_s:.1f} s ({done} {seed_s:.1f} s)"
        ours = _ours(env, after)
        env.log(f"outbox_delivery run {run}: {len(ours['message_ids']):,} deferred follow-ups queued {how}; "
                f"{parked:,} other pending messages set aside")
        return {"after_id": after, "queued": len(ours["message_ids"]), **ours, "enqueue_s": enqueue_s,
                "seed_s": seed_s, "parked_at": parked_at.isoformat(), "parked": parked}

    def _seed_or_undo(self, env) -> str:
        """The scenario's own event: seeded by its first run, the previous run's step undone later."""
        from bench.scenarios.followup_planning import seed_event, undo_step

        if self._event_id is None:
            self._event_id = seed_event(env, self.emails, label="delivery", seed=1000, extras=False)["event_id"]
            return "seeding"
        undo_step(env, self._event_id)
        return "undoing the previous run"

    def _queue(self, env) -> None:
        from datetime import datetime

        from bench.scenarios.followup_planning import step_inputs

        now = datetime.fromisoformat(step_inputs(env, self._event_id)["now"])
        with env.app_context():
            queue_followups(self._event_id, now)

    def run(self, env, spec: dict) -> dict:
        from bench.app_process import app_env

        sink = env.sink
        with sink._lock:
            seen = len(sink.message_ids)
        expected = spec["queued"]
        process_env = app_env(env)
        command = [*_flask(), "--app", "eventsite", "worker"]
        procs: list[subprocess.Popen] = []
        logs = []
        started = time.monotonic()
        try:
            for n in range(self.workers):
                log = open(os.path.join(_log_dir(env), f"worker-{os.getpid()}-{n}-{int(started)}.log"), "w+b")  # noqa: SIM115
                logs.append(log)
                procs.append(subprocess.Popen(command, env=process_env, stdin=subprocess.DEVNULL, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True, cwd=_root()))
            spies = _profile(procs)
            deadline = started + self.time_limit
            while time.monotonic() < deadline:
                with sink._lock:
                    arrived = len(sink.message_ids) - seen
                if arrived >= expected or any(_exited(p) for p in procs):
                    break
                time.sleep(0.05)
            finished = time.monotonic()
            time.sleep(0.3)  # anything more that was on its way arrives now, to be counted
        finally:
            stops = [_stop(p) for p in procs]
            for spy in spies:
                spy.wait(30)
        with sink._lock:
            ids = sink.message_ids[seen:]
            arrivals = sink.arrivals[seen:]
        output = []
        for log in logs:
            log.seek(0)
            output.append(log.read().decode(errors="replace"))
            log.close()
        return {"started": started, "finished": finished, "message_ids": ids, "arrivals": arrivals,
                "stops": stops, "output": output, "timed_out": finished >= started + self.time_limit}

    # -- results

    def evaluate(self, env, spec: dict, outcome: dict) -> RunResult:
        state = _finish(env, spec)
        ids, arrivals = outcome["message_ids"], outcome["arrivals"]
        n = len(ids)
        first, last = (min(arrivals), max(arrivals)) if arrivals else (float("nan"), float("nan"))
        delivery_s = last - first if n > 1 else float("nan")
        cpu_s = sum(s["cpu_s"] for s in outcome["stops"])
        figures = {
            "emails_per_s": (n - 1) / delivery_s if n > 1 and delivery_s > 0 else float("nan"),
            "overall_per_s": n / (last - outcome["started"]) if n else float("nan"),
            "first_email_s": first - outcome["started"] if n else float("nan"),
            "delivery_s": delivery_s,
            "worker_cpu_ms": cpu_s * 1000 / n if n else float("nan"),
            "enqueue_s": spec["enqueue_s"],
            "seed_s": spec["seed_s"],
        }
        expected = spec["queued"]
        distinct = set(ids)
        stopped = [s for s in outcome["stops"] if s["returncode"] == 0 and s["stopped_in_s"] < STOP_GRACE_S]
        checks = [
            Check("the step queued them all as deferred rows (rendered by the workers)",
                  spec["deferred"] == expected == self.emails, f"{spec['deferred']:,} deferred of {expected:,}"),
            Check(f"exactly {expected:,} emails arrived", n == expected and not outcome["timed_out"],
                  f"{n:,} arrived" + (" (time limit reached)" if outcome["timed_out"] else "")),
            Check("no Message-ID twice", len(distinct) == n, f"{n - len(distinct)} repeated"),
            Check("every queued Message-ID arrived", distinct == set(spec["message_ids"]),
                  f"{len(set(spec['message_ids']) - distinct)} missing, {len(distinct - set(spec['message_ids']))} unknown"),
            Check("every outbox row of the run marked sent", state["sent"] == expected and state["not_sent"] == 0,
                  f"{state['sent']:,} sent, {state['not_sent']} not"),
            Check(f"the {self.workers} workers stopped cleanly on SIGTERM", len(stopped) == len(outcome["stops"]),
                  "; ".join(f"exit {s['returncode']} after {s['stopped_in_s']:.1f} s" for s in outcome["stops"])),
        ]
        notes = [f"{spec['parked']:,} other pending messages set aside during the run and put back"]
        if not all(c.ok for c in checks):
            notes += [f"worker {k + 1} output: {text[-1500:]}" for k, text in enumerate(outcome["output"])]
        return RunResult(figures, checks, notes=notes)


def _run_rows(after_id: int):
    """The run's rows: the follow-ups queued after outbox row `after_id`."""
    from eventsite.core.mail.models import OutboxMessage

    return (OutboxMessage.id > after_id) & OutboxMessage.key.like("followup:%")


def _last_outbox_id(env) -> int:
    from sqlalchemy import func, select

    from eventsite.core.mail.models import OutboxMessage

    with env.app_context() as db:
        return db.session.scalar(select(func.max(OutboxMessage.id))) or 0


def _park_others(env, after_id: int) -> tuple:
    """Set every other pending message aside (its next attempt a year ahead; `_finish` puts them
    back): the confirmations and follow-ups the other scenarios queued are not this run's work.
    Returns (the parking time, how many)."""
    from sqlalchemy import update

    from eventsite.core.db import utcnow
    from eventsite.core.mail.models import OutboxMessage, OutboxStatus

    with env.app_context() as db:
        parked_at = utcnow() + timedelta(days=365 * PARK_YEARS)
        parked = db.session.execute(
            update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING, ~_run_rows(after_id))
            .values(next_attempt_at=parked_at), execution_options={"synchronize_session": False}).rowcount
        db.session.commit()
    return parked_at, parked


def _ours(env, after_id: int) -> dict:
    """The run's Message-IDs, how many of its rows are deferred, and how many messages are due now."""
    from sqlalchemy import func, select

    from eventsite.core.db import utcnow
    from eventsite.core.mail.models import OutboxMessage, OutboxStatus

    ours = _run_rows(after_id)
    with env.app_context() as db:
        return {
            "message_ids": list(db.session.scalars(select(OutboxMessage.message_id).where(ours))),
            "deferred": db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
                ours, OutboxMessage.renderer == "connections.followup")),
            "due_before_start": db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= utcnow())),
        }


def queue_followups(event_id: int, now) -> int:
    """The day-after step for the event, as the worker's periodic task runs it (committed)."""
    from eventsite.connections import plan
    from eventsite.events.models import Event
    from eventsite.extensions import db

    queued = plan.run_event(db.session.get(Event, event_id), now, deadline=time.monotonic() + TIME_LIMIT_S)
    db.session.commit()
    return queued


def _finish(env, spec: dict) -> dict:
    """Count the run's rows by status, and put the set-aside messages back."""
    from datetime import datetime

    from sqlalchemy import func, select, update

    from eventsite.core.db import utcnow
    from eventsite.core.mail.models import OutboxMessage, OutboxStatus

    with env.app_context() as db:
        counts = dict(db.session.execute(
            select(OutboxMessage.status, func.count()).where(_run_rows(spec["after_id"]))
            .group_by(OutboxMessage.status)).all())
        db.session.execute(
            update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING,
                                        OutboxMessage.next_attempt_at == datetime.fromisoformat(spec["parked_at"]))
            .values(next_attempt_at=utcnow()), execution_options={"synchronize_session": False})
        db.session.commit()
    sent = counts.get(OutboxStatus.SENT, 0)
    return {"sent": sent, "not_sent": sum(counts.values()) - sent}


def _stop(proc: subprocess.Popen) -> dict:
    """SIGTERM (the worker finishes the message in hand), then SIGKILL after the grace; its rusage."""
    t0 = time.monotonic()
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    status = None
    usage = None
    deadline = t0 + STOP_GRACE_S
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status, usage = os.wait4(proc.pid, 0)
    stopped_in = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"returncode": proc.returncode, "stopped_in_s": stopped_in,
            "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024}


def _profile(procs: list[subprocess.Popen]) -> list[subprocess.Popen]:
    """With BENCH_OUTBOX_PROFILE=DIR: py-spy (bench extra) samples each worker until it exits,
    collapsed stacks of the threads holding the GIL in DIR/worker-N.txt (`python -m bench.profile`)."""
    out = os.environ.get("BENCH_OUTBOX_PROFILE")
    if not out:
        return []
    from bench.harness import _tool

    os.makedirs(out, exist_ok=True)
    return [subprocess.Popen([*_tool("py-spy"), "record", "--pid", str(p.pid), "--rate", "200", "--format", "raw",
                              "--output", os.path.join(out, f"worker-{n}.txt"), "--nonblocking", "--gil"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for n, p in enumerate(procs)]


def _exited(proc: subprocess.Popen) -> bool:
    """Has it exited? Without reaping it (its rusage is read when it is stopped)."""
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _flask() -> list[str]:
    from bench.harness import _tool

    return _tool("flask")


def _root() -> str:
    from bench.harness import ROOT

    return str(ROOT)


def _log_dir(env) -> str:
    tmp = getattr(env, "tmp", None)
    if tmp is not None:
        return str(tmp)
    return env.app.instance_path
