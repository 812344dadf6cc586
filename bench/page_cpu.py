"""CPU time and SQL statements per request of the public pages, in-process (no HTTP, no gunicorn).

    .venv/bin/python -m bench.page_cpu [event|home] [--requests 300] [--profile 40]

On a scratch PostgreSQL database (bench/inprocess.py) with what the `event_page` and `home_page`
scenarios see (an event with a free and a paid ticket type and a Markdown description; 50 upcoming
events for the home page), GETs the page as new visitors: a fresh test client each time, so every
request makes a new CSRF token and session cookie. Prints CPU time and statements per request;
`--profile N` prints the N most expensive functions (cProfile on CPU time); `--no-cache` renders
every request (EVENTSITE_PAGE_CACHE off), for the before/after of events/page_cache.py.
"""
from __future__ import annotations

import argparse
import sys

from bench.inprocess import Meter, SeedEnv, scratch_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("page", nargs="?", choices=("event", "home"), default="event")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", type=int, default=0, help="print the N top functions by cumulative CPU")
    parser.add_argument("--no-cache", action="store_true", help="render every request (no stored copies)")
    args = parser.parse_args(argv)

    with scratch_app(EVENTSITE_PAGE_CACHE=not args.no_cache) as app:
        from bench import seed
        from eventsite.extensions import db

        with app.app_context():
            slugs = []
            for i in range(50 if args.page == "home" else 1):
                event = seed.published_event(SeedEnv, f"Mentoring Breakfast & Leadership Talks {i}", days_ahead=10 + i)
                seed.free_ticket_type(event, 300)
                seed.paid_ticket_type(event, 100, 2500)
                slugs.append(event.slug)
            db.session.commit()
        path = "/" if args.page == "home" else f"/events/{slugs[0]}"
        for _ in range(20):  # warm: templates compiled, copies stored
            assert app.test_client().get(path).status_code == 200
        meter = Meter(app, profile=bool(args.profile))
        for _ in range(args.requests):
            client = app.test_client()  # a new visitor
            answer = meter.time("GET", lambda: client.get(path))
            if answer.status_code != 200:
                print(f"GET {path}: {answer.status_code}", file=sys.stderr)
                return 1
        print(f"{path}{' (no stored copies)' if args.no_cache else ''}:")
        meter.report(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
