"""Outbox delivery (issue 6 deliverable 9, issue 7): 10,000 day-after follow-ups, two worker processes.

Each run seeds a past event with `--outbox-emails` (10,000) eligible profiled attendees (the seeding
of the follow-up planning scenario, `followup_planning.seed_event`, without the people the step
leaves out) and runs the day-after step (`plan.run_event`, as the worker's periodic task does) in
the bench process: it queues one *deferred* row per attendee (ids only, renderer
"connections.followup"), exactly as production does. Every other pending message of the session
(the registration confirmations and follow-ups other scenarios queued) is set aside first by moving
its `next_attempt_at` a year ahead; they are put back after the run. Then `--outbox-workers` (2)
processes of `flask --app eventsite worker` start, exactly as production runs them (the app
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
        Figure("seed_s", "seeding the event and its attendees (not delivery)", "s", 1),
    ]
    targets = [Target("emails_per_s", ">=", 200, "at least 200 emails/s with two workers")]

    def __init__(self, emails: int, workers: int = 2, *, time_limit: float = TIME_LIMIT_S):
        self.emails, self.workers, self.time_limit = emails, workers, time_limit
        self.name = "outbox_delivery"
        self.title = f"Outbox delivery: {emails:,} emails, {workers} worker processes"

    def describe(self) -> str:
        return (f"{self.emails:,} day-after follow-ups queued by the real step (`plan.run_event`) for a seeded "
                "past event, as deferred rows the workers render when they send them; "
                f"{self.workers} `flask --app eventsite worker` processes, configured as in "
                "production, render and deliver them to the harness's SMTP sink. Other pending mail of the session "
                "is set aside during the run. Rate from the first arrival to the last (rendering included); the "
                "workers' CPU per email. "
                "Checked: exactly that many arrived, no Message-ID twice, each queued one arrived, every row "
                "sent, the workers stopped cleanly on SIGTERM.")

    # -- data

    def prepare(self, env, run: int) -> dict:
        from datetime import datetime

        from sqlalchemy import func, select, update

        from bench.scenarios.followup_planning import seed_event
        from eventsite.core.db import utcnow
        from eventsite.core.mail.models import OutboxMessage, OutboxStatus

        with env.app_context() as db:
            parked_at = utcnow() + timedelta(days=365 * PARK_YEARS)
            parked = db.session.execute(
                update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)
                .values(next_attempt_at=parked_at), execution_options={"synchronize_session": False}).rowcount
            db.session.commit()
        t0 = time.monotonic()
        seeded = seed_event(env, self.emails, label=f"delivery run {run}", seed=1000 + run, extras=False)
        seed_s = time.monotonic() - t0
        with env.app_context() as db:
            after = db.session.scalar(select(func.max(OutboxMessage.id))) or 0
            t0 = time.monotonic()
            queued = queue_followups(seeded["event_id"], datetime.fromisoformat(seeded["now"]))
            enqueue_s = time.monotonic() - t0
            ours = (OutboxMessage.id > after) & OutboxMessage.key.like("followup:%")
            message_ids = list(db.session.scalars(select(OutboxMessage.message_id).where(ours)))
            deferred = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
                ours, OutboxMessage.renderer == "connections.followup"))
            pending = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= utcnow()))
        env.log(f"outbox_delivery run {run}: {queued:,} deferred follow-ups queued by the step in {enqueue_s:.1f} s "
                f"(seeding {seed_s:.1f} s); {parked:,} other pending messages set aside")
        return {"after_id": after, "queued": len(message_ids), "deferred": deferred, "message_ids": message_ids,
                "enqueue_s": enqueue_s, "seed_s": seed_s, "parked_at": parked_at.isoformat(), "parked": parked,
                "due_before_start": pending}

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
            select(OutboxMessage.status, func.count()).where(
                OutboxMessage.id > spec["after_id"], OutboxMessage.key.like("followup:%"))
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
