"""CPU time and SQL statements per visitor of the registration path, in-process (no HTTP, no gunicorn).

    .venv/bin/python -m bench.registration_cpu [--visitors 150] [--profile 40]

Creates a scratch PostgreSQL database (EVENTSITE_BENCH_POSTGRES_URL, default the local server), an
event with one free ticket type, then plays visitors with the Flask test client: GET the event page,
POST the form with its CSRF token. Prints CPU time (`time.process_time`) and statements per GET and
per POST. CPU time drifts less than wall time on a shared machine, but contention still inflates it:
compare two trees measured back to back, not figures from different moments. `--profile N` prints
the N most expensive functions (cProfile on CPU time). The database is dropped at the end.
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

import psycopg
from sqlalchemy import event as sa_event

ADMIN_URL = os.environ.get("EVENTSITE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=150)
    parser.add_argument("--profile", type=int, default=0, help="print the N top functions by cumulative CPU")
    args = parser.parse_args(argv)

    name = f"eventsite_cpu_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    from eventsite import create_app
    from eventsite.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "EVENTSITE_MAIL_URL": "dev://", "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": secrets.token_hex(16), "TESTING": False})
    try:
        from bench import seed

        class Env:  # what bench.seed needs of the harness
            shared: dict = {}

        with app.app_context():
            db.create_all()
            event = seed.published_event(Env, "Registration CPU")  # the rush's event and ticket type
            ticket_type = seed.free_ticket_type(event, 10 * args.visitors + 10)
            db.session.commit()
            slug, type_id = event.slug, ticket_type.id
            statements = [0]
            sa_event.listen(db.engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))

        profile = cProfile.Profile(time.process_time) if args.profile else None
        cpu = {"GET": 0.0, "POST": 0.0}
        sql = {"GET": 0, "POST": 0}

        def timed(kind, call):
            before_sql, before = statements[0], time.process_time()
            if profile:
                profile.enable()
            try:
                return call()
            finally:
                if profile:
                    profile.disable()
                cpu[kind] += time.process_time() - before
                sql[kind] += statements[0] - before_sql

        for i in range(args.visitors):
            client = app.test_client()
            page = timed("GET", lambda: client.get(f"/events/{slug}"))
            token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page.data).group(1).decode()
            form = {"csrf_token": token, "name": f"Visitor {i}", "email": f"visitor{i}@example.org",
                    f"quantity-{type_id}": "1"}
            answer = timed("POST", lambda: client.post(f"/events/{slug}/register", data=form))
            if answer.status_code != 303:
                print(f"visitor {i}: {answer.status_code}", file=sys.stderr)
                return 1
        for kind in ("GET", "POST"):
            print(f"{kind:4} {cpu[kind] / args.visitors * 1000:6.2f} ms CPU, {sql[kind] / args.visitors:4.1f} statements")
        if profile:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)
        return 0
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
