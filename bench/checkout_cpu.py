"""CPU time and SQL statements per paid checkout start, in-process (no HTTP to the app, no gunicorn).

    .venv/bin/python -m bench.checkout_cpu [--visitors 150] [--profile 40] [--statements]

Like bench/registration_cpu.py, for the paid path of issue 7 (the checkout_start scenario): a scratch
PostgreSQL database (`bench.inprocess.scratch_app`) with an event and one paid ticket type (25.00
EUR), the fake Stripe API the tests use (tests/payments/fake_stripe.py, on loopback, in threads of
this process), and the app configured with `STRIPE_SECRET_KEY` / `STRIPE_WEBHOOK_SECRET` /
`STRIPE_API_BASE` as the harness does. Visitors play with the Flask test client: GET the event page,
then POST the form for one paid ticket, which must answer 303 to the fake Checkout URL; at the end,
one session per visitor at the fake Stripe, each with its own idempotency key. The first
visitors are a warm-up and are not counted.

Prints, per GET and per POST, the app's CPU time (`time.thread_time` of the thread running the
requests, so the fake Stripe's server threads are not counted: in the benchmark it runs in another
process than gunicorn), the SQL statements, PostgreSQL's CPU (the server processes of the app's
connections, read from /proc: the server must run on this machine, else it reads 0) and the wall
time (CPU plus waiting: statements, commits, the Stripe round trip). CPU time drifts less than wall
time on a shared machine, but contention still inflates it: compare two trees measured back to back,
not figures from different moments. `--statements` logs every SQL statement of one POST (the first
after the warm-up) with its wall time and the commits; `--profile N` prints the N most expensive
functions of the POSTs (cProfile on the same CPU clock). The database is dropped at the end.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import secrets
import sys
import time
from collections import Counter

import psycopg
from sqlalchemy import event as sa_event

from bench.inprocess import ADMIN_URL, SeedEnv, scratch_app

CHECKOUT_PREFIX = "https://checkout.stripe.test/c/pay/cs_test_"
PRICE_CENTS = 2500
WARMUP = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=150)
    parser.add_argument("--profile", type=int, default=0, help="print the N top functions (POSTs) by cumulative CPU")
    parser.add_argument("--statements", action="store_true", help="log every SQL statement of one POST")
    args = parser.parse_args(argv)

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for tests.payments
    from tests.payments.fake_stripe import FakeStripe

    stripe = FakeStripe().start()
    try:
        with scratch_app(STRIPE_SECRET_KEY="sk_test_eventsite_bench", STRIPE_API_BASE=stripe.url,
                         STRIPE_WEBHOOK_SECRET="whsec_bench_" + secrets.token_hex(16)) as app:
            return _run(app, stripe, args)
    finally:
        stripe.stop()


def _run(app, stripe, args) -> int:
    from bench import seed
    from eventsite.extensions import db

    with app.app_context():
        event = seed.published_event(SeedEnv, "Leadership Summit: checkout CPU", slug_prefix="checkout")
        ticket_type = seed.paid_ticket_type(event, 10 * (WARMUP + args.visitors), PRICE_CENTS, name="Summit pass")
        db.session.commit()
        slug, type_id = event.slug, ticket_type.id
        engine = db.engine
        database = engine.url.database
    meter = _Meter(engine, profile=bool(args.profile))
    for i in range(WARMUP + args.visitors):
        if i == WARMUP:
            meter.start(_backends(database))
        client = app.test_client()
        page = meter.time("GET", lambda client=client: client.get(f"/events/{slug}"))
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page.data).group(1).decode()
        form = {"csrf_token": token, "name": f"Summit Visitor {i}", "email": f"checkout{i}@example.org",
                f"quantity-{type_id}": "1"}
        meter.log = [] if args.statements and i == WARMUP else None
        answer = meter.time("POST", lambda client=client, form=form: client.post(f"/events/{slug}/register",
                                                                                  data=form))
        if meter.log is not None:
            print(f"--- the {sum(not s.startswith('--') for s in meter.log)} statements of one paid POST")
            for n, line in enumerate(meter.log, 1):
                print(f"{n:3} {line}")
            print("---")
        location = answer.headers.get("Location", "")
        if answer.status_code != 303 or not location.startswith(CHECKOUT_PREFIX):
            print(f"visitor {i}: {answer.status_code} to {location!r}", file=sys.stderr)
            return 1
    calls = stripe.session_creations()
    if len(calls) != WARMUP + args.visitors or len({c.idempotency_key for c in calls}) != len(calls):
        print(f"{len(calls)} session creations, {len({c.idempotency_key for c in calls})} keys, for "
              f"{WARMUP + args.visitors} visitors", file=sys.stderr)
        return 1
    if _backends(database) != meter.backends:
        print("the app's PostgreSQL connections changed during the run: its CPU figure is partial", file=sys.stderr)
    meter.report(args.profile)
    return 0


class _Meter:
    """Per kind of call: CPU of this thread, statements, PostgreSQL CPU, wall time; the statements of
    one call when `log` is a list."""

    def __init__(self, engine, *, profile: bool):
        self.counting = False
        self.backends: list[int] = []
        self.log: list[str] | None = None
        self.statements = 0
        self._started = 0.0
        self.cpu: Counter[str] = Counter()
        self.sql: Counter[str] = Counter()
        self.pg: Counter[str] = Counter()
        self.wall: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.profile = cProfile.Profile(time.thread_time) if profile else None
        sa_event.listen(engine, "before_cursor_execute", self._before)
        sa_event.listen(engine, "after_cursor_execute", self._after)
        sa_event.listen(engine, "commit", lambda *a: self.log.append("-- COMMIT") if self.log is not None else None)
        sa_event.listen(engine, "rollback", lambda *a: self.log.append("-- ROLLBACK") if self.log is not None else None)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements += 1
        self._started = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.log is not None:
            ms = (time.perf_counter() - self._started) * 1000
            self.log.append(f"[{ms:5.2f} ms] {statement}\n      {parameters!r}"[:700])

    def start(self, backends: list[int]) -> None:
        self.counting, self.backends = True, backends

    def time(self, kind: str, call):
        if not self.counting:
            return call()
        sql, cpu, pg, wall = self.statements, time.thread_time(), _backend_cpu(self.backends), time.perf_counter()
        if self.profile and kind == "POST":
            self.profile.enable()
        try:
            return call()
        finally:
            if self.profile and kind == "POST":
                self.profile.disable()
            self.cpu[kind] += time.thread_time() - cpu
            self.wall[kind] += time.perf_counter() - wall
            self.pg[kind] += _backend_cpu(self.backends) - pg
            self.sql[kind] += self.statements - sql
            self.calls[kind] += 1

    def report(self, top: int = 0) -> None:
        for kind, n in self.calls.items():
            print(f"{kind:4} {self.cpu[kind] / n * 1000:6.2f} ms CPU, {self.sql[kind] / n:4.1f} statements, "
                  f"PostgreSQL {self.pg[kind] / n * 1000:5.2f} ms CPU, {self.wall[kind] / n * 1000:6.2f} ms wall "
                  f"(mean of {n})")
        if self.profile and top:
            pstats.Stats(self.profile).sort_stats("cumulative").print_stats(top)


def _backends(database: str) -> list[int]:
    """The server processes of the app's connections to `database` (its pool keeps them open)."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        return sorted(r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)))


def _backend_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) of these PostgreSQL server processes, from /proc; 0 when unreadable."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
