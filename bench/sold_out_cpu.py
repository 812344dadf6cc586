"""CPU time and SQL statements of the registration rush's turned-away visitor, in-process.

    .venv/bin/python -m bench.sold_out_cpu [--visitors 300] [--profile 40] [--no-cache]

What most requests of a rush with more clients than seats are (issue 7, `registration_rush
500x100`: 500 of its 600 POSTs): on a scratch PostgreSQL database (bench/inprocess.py) an event
with one free ticket type, sold out, then new visitors with the Flask test client: GET the event
page, POST the form with one ticket and her CSRF token, answered 409 "sold out". Prints CPU time
(`time.process_time`) and statements per GET and per POST; `--no-cache` renders every answer
(EVENTSITE_PAGE_CACHE off), for the before/after of the stored copies; `--profile N` prints the
N most expensive functions (cProfile on CPU time). Compare trees measured back to back.
"""
from __future__ import annotations

import argparse
import re
import sys

from bench.inprocess import Meter, SeedEnv, scratch_app

SOLD_OUT = "is sold out"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=300)
    parser.add_argument("--profile", type=int, default=0, help="print the N top functions by cumulative CPU")
    parser.add_argument("--no-cache", action="store_true", help="render every answer (no stored copies)")
    args = parser.parse_args(argv)

    with scratch_app(EVENTSITE_PAGE_CACHE=not args.no_cache) as app:
        from bench import seed
        from eventsite.extensions import db
        from eventsite.registration.services import register_attendees

        with app.app_context():
            event = seed.published_event(SeedEnv, "Sold-out CPU")  # the rush's event and ticket type
            ticket_type = seed.free_ticket_type(event, 1)
            register_attendees(event, buyer_name="First Comer", buyer_email="first@example.org",
                               quantities={ticket_type.id: 1})
            db.session.commit()
            slug, type_id = event.slug, ticket_type.id

        def visit(i: int, meter: Meter | None) -> int:
            client = app.test_client()  # a new visitor
            get = lambda: client.get(f"/events/{slug}")  # noqa: E731
            page = meter.time("GET", get) if meter else get()
            token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page.data).group(1).decode()
            form = {"csrf_token": token, "name": f"Visitor {i}", "email": f"visitor{i}@example.org",
                    f"quantity-{type_id}": "1"}
            post = lambda: client.post(f"/events/{slug}/register", data=form)  # noqa: E731
            answer = meter.time("POST", post) if meter else post()
            return 0 if answer.status_code == 409 and SOLD_OUT in answer.get_data(as_text=True) else answer.status_code

        for i in range(20):  # warm: templates compiled, copies stored
            visit(i, None)
        meter = Meter(app, profile=bool(args.profile))
        for i in range(args.visitors):
            status = visit(1000 + i, meter)
            if status:
                print(f"visitor {i}: {status}, not told sold out", file=sys.stderr)
                return 1
        print(f"sold-out event{' (no stored copies)' if args.no_cache else ''}:")
        meter.report(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
