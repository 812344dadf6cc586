"""What the in-process measurements share (`bench.registration_cpu`, `bench.page_cpu`,
`bench.checkout_cpu`): the app on a scratch PostgreSQL database, and a meter of CPU time and SQL
statements per kind of call, with cProfile on demand.

CPU time (`time.process_time`) drifts less than wall time on a shared machine, but contention still
inflates it: compare two trees measured back to back, not figures from different moments.
"""
from __future__ import annotations

import cProfile
import logging
import os
import pstats
import re
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from flask import Flask
from sqlalchemy import event as sa_event

ADMIN_URL = os.environ.get("EVENTSITE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class SeedEnv:
    """What `bench.seed` needs of the harness."""

    shared: dict = {}


@contextmanager
def scratch_app(**config: Any) -> Iterator[Flask]:
    """The production app factory on a new database (tables created), dropped on the way out."""
    name = f"eventsite_cpu_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    from eventsite import create_app
    from eventsite.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "EVENTSITE_MAIL_URL": "dev://", "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": secrets.token_hex(16), "TESTING": False, **config})
    logging.getLogger("eventsite").setLevel(logging.WARNING)  # no access log line per request
    try:
        with app.app_context():
            db.create_all()
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Meter:
    """CPU time and statements of the calls it times, per kind (`GET`, `POST`...)."""

    def __init__(self, app: Flask, *, profile: bool = False):
        from eventsite.extensions import db

        with app.app_context():
            engine = db.engine
        self._statements = 0
        sa_event.listen(engine, "before_cursor_execute", self._count)
        self.cpu: Counter[str] = Counter()
        self.sql: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.profile = cProfile.Profile(time.process_time) if profile else None

    def _count(self, *args) -> None:
        self._statements += 1

    def time(self, kind: str, call: Callable[[], Any]) -> Any:
        before_sql, before = self._statements, time.process_time()
        if self.profile:
            self.profile.enable()
        try:
            return call()
        finally:
            if self.profile:
                self.profile.disable()
            self.cpu[kind] += time.process_time() - before
            self.sql[kind] += self._statements - before_sql
            self.calls[kind] += 1

    def report(self, top: int = 0) -> None:
        for kind, n in self.calls.items():
            print(f"{kind:4} {self.cpu[kind] / n * 1000:6.2f} ms CPU, {self.sql[kind] / n:4.1f} statements "
                  f"(mean of {n})")
        if self.profile and top:
            pstats.Stats(self.profile).sort_stats("cumulative").print_stats(top)


def statement_waits(app: Flask) -> dict[str, list[float]]:
    """Wall time the driver waited for each statement (PostgreSQL's work plus the round trip), by
    statement text (its first 100 characters), filled as statements run; `print_waits` shows it."""
    from eventsite.extensions import db

    waits: dict[str, list[float]] = {}

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench.t0"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        waits.setdefault(re.sub(r"\s+", " ", statement)[:100], []).append(time.perf_counter() - conn.info["bench.t0"])

    with app.app_context():
        engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", before)
    sa_event.listen(engine, "after_cursor_execute", after)
    return waits


def print_waits(waits: dict[str, list[float]]) -> None:
    print("median wait per statement, slowest first:")
    for statement, times in sorted(waits.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"{statistics.median(times) * 1000:7.2f} ms x{len(times):4d}  {statement}")
