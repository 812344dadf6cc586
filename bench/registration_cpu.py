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
import re
import sys

from bench.inprocess import Meter, SeedEnv, scratch_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=150)
    parser.add_argument("--profile", type=int, default=0, help="print the N top functions by cumulative CPU")
    args = parser.parse_args(argv)

    with scratch_app() as app:
        from bench import seed
        from eventsite.extensions import db

        with app.app_context():
            event = seed.published_event(SeedEnv, "Registration CPU")  # the rush's event and ticket type
            ticket_type = seed.free_ticket_type(event, 10 * args.visitors + 10)
            db.session.commit()
            slug, type_id = event.slug, ticket_type.id
        meter = Meter(app, profile=bool(args.profile))
        for i in range(args.visitors):
            client = app.test_client()
            page = meter.time("GET", lambda: client.get(f"/events/{slug}"))
            token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page.data).group(1).decode()
            form = {"csrf_token": token, "name": f"Visitor {i}", "email": f"visitor{i}@example.org",
                    f"quantity-{type_id}": "1"}
            answer = meter.time("POST", lambda: client.post(f"/events/{slug}/register", data=form))
            if answer.status_code != 303:
                print(f"visitor {i}: {answer.status_code}", file=sys.stderr)
                return 1
        meter.report(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
