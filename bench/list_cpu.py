"""The organizer's attendee list of 5,000 tickets, in-process: CPU and each SQL statement's time.

    .venv/bin/python -m bench.list_cpu [--pages 100] [--profile 30]

Like bench/page_cpu.py for the `attendee_list` scenario: a scratch PostgreSQL database
(`bench.inprocess.scratch_app`) with the scenario's 5,000 tickets (`attendee_list.insert_attendees`),
an organizer logged in through the form, then `--pages` list pages (`?page=P`, P spread over all 100
pages) through the Flask test client. Prints the app's CPU and statements per page (`Meter`) and,
per statement, the median wall time the driver waited for it (PostgreSQL's work plus the round trip),
slowest first. Wall times drift with the machine's load: compare two trees back to back.
"""
from __future__ import annotations

import argparse

from bench.inprocess import Meter, SeedEnv, print_waits, scratch_app, statement_waits

TICKETS = 5000
PER_PAGE = 50


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--profile", type=int, default=0, help="print the N top functions by cumulative CPU")
    args = parser.parse_args(argv)
    with scratch_app() as app:
        slug = _seed(app)
        client = _logged_in(app)
        waits = statement_waits(app)
        meter = Meter(app, profile=args.profile > 0)
        pages = TICKETS // PER_PAGE
        for i in range(args.pages):
            page = (i * 37) % pages + 1
            response = meter.time("GET", lambda p=page: client.get(f"/organizer/events/{slug}/registrations?page={p}"))
            assert response.status_code == 200, response.status_code
        meter.report(top=args.profile)
        print_waits(waits)
    return 0


def _seed(app) -> str:
    from bench import seed
    from bench.scenarios.attendee_list import insert_attendees
    from eventsite.events.models import Question, QuestionKind
    from eventsite.extensions import db

    with app.app_context():
        env = SeedEnv()
        seed.organizer(env)
        event = seed.published_event(env, "Women in Leadership Conference", slug_prefix="attendees")
        tt = seed.free_ticket_type(event, TICKETS, name="Conference day")
        question = Question(event_id=event.id, label="Dietary requirements", kind=QuestionKind.SHORT_TEXT)
        db.session.add(question)
        db.session.commit()
        insert_attendees(event.id, tt.id, question.id, TICKETS)
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        return event.slug


def _logged_in(app):
    from bench import seed
    from bench.loadgen import csrf_token

    client = app.test_client()
    token = csrf_token(client.get("/organizer/login").get_data(as_text=True))
    response = client.post("/organizer/login", data={"csrf_token": token, "email": "bench-organizer@example.org",
                                                     "password": seed.PASSWORD})
    assert response.status_code == 303, response.status_code
    return client


if __name__ == "__main__":
    raise SystemExit(main())
