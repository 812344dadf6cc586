"""CPU time and SQL statements per request of the public pages, in-process (no HTTP, no gunicorn).

    .venv/bin/python -m bench.page_cpu [event|home] [--requests 300] [--profile 40]

Creates a scratch PostgreSQL database (EVENTSITE_BENCH_POSTGRES_URL, default the local server) with
what the `event_page` and `home_page` scenarios see (an event with a free and a paid ticket type and a
Markdown description; 50 upcoming events for the home page), then GETs the page as new visitors
(a fresh test client each time, so every request makes a new CSRF token and session cookie). Prints
CPU time (`time.process_time`) and statements per request; `--profile N` prints the N most expensive
functions (cProfile on CPU time). Compare two trees measured back to back, not figures from
different moments. The database is dropped at the end.
"""
from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import secrets
import sys
import time

import psycopg
from sqlalchemy import event as sa_event

ADMIN_URL = os.environ.get("EVENTSITE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("page", nargs="?", choices=("event", "home"), default="event")
    parser.add_argument("--requests", type=int, default=300)
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
    logging.getLogger("eventsite").setLevel(logging.WARNING)  # no access log line per request
    try:
        from bench import seed

        class Env:  # what bench.seed needs of the harness
            shared: dict = {}

        with app.app_context():
            db.create_all()
            count = 50 if args.page == "home" else 1
            slugs = []
            for i in range(count):
                event = seed.published_event(Env, f"Mentoring Breakfast & Leadership Talks {i}", days_ahead=10 + i)
                seed.free_ticket_type(event, 300)
                seed.paid_ticket_type(event, 100, 2500)
                slugs.append(event.slug)
            db.session.commit()
            statements = [0]
            sa_event.listen(db.engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
        path = "/" if args.page == "home" else f"/events/{slugs[0]}"

        for _ in range(20):  # warm: templates compiled, caches filled
            assert app.test_client().get(path).status_code == 200
        profile = cProfile.Profile(time.process_time) if args.profile else None
        before_sql, cpu = statements[0], 0.0
        for _ in range(args.requests):
            client = app.test_client()
            before = time.process_time()
            if profile:
                profile.enable()
            answer = client.get(path)
            if profile:
                profile.disable()
            cpu += time.process_time() - before
            if answer.status_code != 200:
                print(f"GET {path}: {answer.status_code}", file=sys.stderr)
                return 1
        print(f"GET {path}: {cpu / args.requests * 1000:6.2f} ms CPU, "
              f"{(statements[0] - before_sql) / args.requests:4.1f} statements per request")
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
