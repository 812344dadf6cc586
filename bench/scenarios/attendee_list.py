"""Organizer attendee list of 5,000 and its CSV export (issue 7).

Once per session, one published event gets `--attendees` (5,000) tickets in orders of 1 to 4
(bulk-inserted with core SQL: the rows the registration service writes, with real order codes,
tokens and QR secrets from the app's own `random_token`, names, lower-cased emails, an answer to the
event's question, creation times spread over the last four weeks, a few complimentary orders and a
few cancelled tickets), and `ticket_types.sold` / `events.sold` to match. The list is read-only, so
every run reuses it.

Each run, `--attendees-clients` (4) organizers log in through the login form (CSRF token, argon2
password check) and GET `/organizer/events/<slug>/registrations?page=P` back to back for
`--attendees-seconds` (6), P going over the 100 pages (50 tickets each) from a different place per
client; then the first of them, alone, downloads the CSV export `--attendees-exports` (3) times.

Figures: list pages/s, list page latency, export time, CPU per list page. Targets (issue 7): list
page p50 and p99 under 150 ms, export under 2 s (the slowest of the run's exports). Checks: every
login a 303; every list page 200 saying "of 5000" tickets and showing 50 rows; every export 200
`text/csv` with the header and exactly 5,000 data rows; zero 5xx.
"""
from __future__ import annotations

import csv
import io
import time
from collections import Counter
from datetime import timedelta

from bench import stats
from bench.loadgen import csrf_token
from bench.scenarios import Check, Figure, RunResult, Scenario, Target, cpu_figures

MODULE = "bench.scenarios.attendee_list"
PER_PAGE = 50  # eventsite.registration.reports.PER_PAGE
ROW_MARKER = '<td data-label="Attendee">'
FIRST = ["Ada", "Grace", "Maya", "Amina", "Sofia", "Lena", "Priya", "Chen", "Fatima", "Olga", "Nora", "Yuki",
         "Zara", "Ines", "Helga", "Aisha", "Marta", "Leila", "Rosa", "Ingrid"]
LAST = ["Lovelace", "Hopper", "Chen", "Okafor", "Rossi", "Schmidt", "Patel", "Nakamura", "Haddad", "Ivanova",
        "Lindqvist", "Mensah", "García", "Kowalski", "Dubois", "O'Brien", "Müller", "Silva", "Khan", "Novak"]
DIETS = ["", "Vegetarian", "Vegan", "No nuts, please", "Gluten-free", ""]


def add_arguments(group) -> None:
    group.add_argument("--attendees", type=int, default=5000, metavar="N",
                       help="tickets on the organizer's attendee list (default 5000)")
    group.add_argument("--attendees-clients", type=int, default=4, metavar="N",
                       help="organizers reading the list at once (default 4)")
    group.add_argument("--attendees-seconds", type=float, default=6.0, metavar="S",
                       help="how long the list is read in each run (default 6)")
    group.add_argument("--attendees-exports", type=int, default=3, metavar="N",
                       help="CSV exports at the end of each run, one after the other (default 3)")


def scenarios(args) -> list[Scenario]:
    return [AttendeeList(args.attendees, args.attendees_clients, args.attendees_seconds, args.attendees_exports)]


def insert_attendees(event_id: int, ticket_type_id: int, question_id: int | None, tickets: int) -> int:
    """`tickets` tickets of one free type in orders of 1 to 4, inserted in bulk (see the module doc).
    Returns the number of valid tickets. Inside an app context; commits."""
    from sqlalchemy import insert, update

    from eventsite.core.db import utcnow
    from eventsite.core.security import random_token
    from eventsite.events.models import Event, TicketType
    from eventsite.extensions import db
    from eventsite.registration.models import Order, OrderSource, OrderStatus, Ticket, TicketStatus

    now = utcnow()
    sizes = [1, 2, 1, 1, 3, 1, 2, 4, 1, 1]
    plans: list[tuple[dict, list[dict]]] = []
    issued = n = 0
    while issued < tickets:
        size = min(sizes[n % len(sizes)], tickets - issued)
        first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
        created = now - timedelta(days=28) + timedelta(seconds=n * 600 % (27 * 86400) + n)
        complimentary = n % 97 == 0
        answer = DIETS[n % len(DIETS)]
        order = {
            "event_id": event_id, "code": random_token(40), "token": random_token(130),
            "buyer_name": f"{first} {last}", "buyer_email": f"{first}.{last}.{n}@example.org".lower().replace("'", ""),
            "status": OrderStatus.CONFIRMED,
            "source": OrderSource.COMPLIMENTARY if complimentary else OrderSource.PUBLIC,
            "total_cents": 0, "currency": "EUR", "answers": {str(question_id): answer} if question_id and answer else {},
            "confirmation_count": 0, "created_at": created, "confirmed_at": created,
        }
        rows = []
        for k in range(size):
            cancelled = (issued + k) % 60 == 59
            guest = k and f"{FIRST[(n + k * 7) % len(FIRST)]} {LAST[(n + k * 3) % len(LAST)]}"
            rows.append({
                "event_id": event_id, "ticket_type_id": ticket_type_id, "secret": random_token(130),
                "attendee_name": guest or order["buyer_name"], "attendee_email": None if k else order["buyer_email"],
                "price_cents": 0, "status": TicketStatus.CANCELLED if cancelled else TicketStatus.VALID,
                "created_at": created, "cancelled_at": created + timedelta(days=1) if cancelled else None,
            })
        plans.append((order, rows))
        issued += size
        n += 1
    for start in range(0, len(plans), 1000):
        chunk = plans[start:start + 1000]
        ids = db.session.scalars(insert(Order).returning(Order.id, sort_by_parameter_order=True),
                                 [o for o, _ in chunk]).all()
        db.session.execute(insert(Ticket), [dict(t, order_id=oid) for oid, (_, ts) in zip(ids, chunk) for t in ts])
    valid = sum(t["status"] == TicketStatus.VALID for _, ts in plans for t in ts)
    db.session.execute(update(TicketType).where(TicketType.id == ticket_type_id).values(sold=valid))
    db.session.execute(update(Event).where(Event.id == event_id).values(sold=valid))
    db.session.commit()
    return valid


class AttendeeList(Scenario):
    name = "attendee_list"
    module = MODULE
    figures = [
        Figure("pages_per_s", "list pages/s", "/s", 0),
        Figure("list_p50_ms", "list page p50", "ms"),
        Figure("list_p90_ms", "list page p90", "ms"),
        Figure("list_p99_ms", "list page p99", "ms"),
        Figure("list_max_ms", "list page max", "ms"),
        Figure("export_p50_ms", "CSV export, median of the run's", "ms", 0),
        Figure("export_max_ms", "CSV export, slowest of the run's", "ms", 0),
        Figure("export_kib", "CSV size", "KiB", 0),
        *cpu_figures({}, 0, "list page")[0],
    ]
    targets = [
        Target("list_p50_ms", "<", 150, "list page p50 under 150 ms"),
        Target("list_p99_ms", "<", 150, "list page p99 under 150 ms"),
        Target("export_max_ms", "<", 2000, "CSV export under 2 s"),
    ]

    def __init__(self, attendees: int, clients: int, seconds: float, exports: int):
        self.attendees, self.clients, self.seconds, self.exports = attendees, clients, seconds, exports
        self.title = f"Organizer attendee list of {attendees:,} and its CSV export"

    def describe(self) -> str:
        return (f"{self.clients} organizers log in through the form and read the registrations list of an event with "
                f"{self.attendees:,} tickets (bulk-inserted rows like the registration service's), pages of 50 "
                f"going over all pages, back to back for {self.seconds:g} s; then one of them downloads the CSV "
                f"export {self.exports} times, alone. Checked: every login 303; every page 200 with its 50 rows and "
                f"the total; every export with exactly {self.attendees:,} data rows; zero 5xx. (CPU per list page "
                "counts the exports' CPU too: the meter spans the whole run.)")

    def setup(self, env) -> None:
        if "attendee_list" in env.shared:
            return
        from bench import seed
        from eventsite.events.models import Question, QuestionKind

        t0 = time.monotonic()
        with env.app_context() as db:
            seed.organizer(env)
            event = seed.published_event(env, "Women in Leadership Conference", slug_prefix="attendees")
            tt = seed.free_ticket_type(event, self.attendees, name="Conference day")
            question = Question(event_id=event.id, label="Dietary requirements", kind=QuestionKind.SHORT_TEXT)
            db.session.add(question)
            db.session.commit()
            seeded = {"event_id": event.id, "slug": event.slug}
            valid = insert_attendees(event.id, tt.id, question.id, self.attendees)
            if db.session.connection().dialect.name == "postgresql":  # the planner's statistics
                db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        seeded["valid"] = valid
        env.shared["attendee_list"] = seeded
        env.log(f"attendee_list: {self.attendees:,} tickets inserted in {time.monotonic() - t0:.1f} s")

    def _spec(self, env, seconds: float, exports: int) -> dict:
        from bench import seed

        seeded = env.shared["attendee_list"]
        pages = max((self.attendees + PER_PAGE - 1) // PER_PAGE, 1)
        return {"module": self.module, "clients": self.clients, "time_limit": seconds + 30 * exports + 30,
                "params": {"email": "bench-organizer@example.org", "password": seed.PASSWORD,
                           "list": f"/organizer/events/{seeded['slug']}/registrations",
                           "csv": f"/organizer/events/{seeded['slug']}/registrations.csv",
                           "pages": pages, "total": self.attendees, "seconds": seconds, "exports": exports},
                "seeded": seeded}

    def warmup(self, env) -> dict:
        return self._spec(env, 2.0, 1)

    def prepare(self, env, run: int) -> dict:
        return self._spec(env, self.seconds, self.exports)

    def evaluate(self, env, spec: dict, outcome: dict) -> RunResult:
        samples = outcome["samples"]
        lists = [s for s in samples if s[0] == "list"]
        exports = [s for s in samples if s[0] == "export"]
        answers: Counter[str] = Counter()
        csv_rows: list[int] = []
        sizes: list[int] = []
        for r in outcome["results"]:
            answers.update(r.get("answers", {}))
            csv_rows.extend(r.get("csv_rows", []))
            sizes.extend(r.get("csv_bytes", []))
        list_time = max((s[2] + s[3] for s in lists), default=0.0) or float("nan")
        export_ms = [s[3] * 1000 for s in exports]
        figures = {
            "pages_per_s": len(lists) / list_time,
            "requests_per_s": len(lists) / list_time,
            **stats.latency_ms([s[3] for s in lists], "list"),
            "export_p50_ms": stats.percentile(export_ms, 50),
            "export_max_ms": max(export_ms, default=float("nan")),
            "export_kib": (sum(sizes) / len(sizes) / 1024) if sizes else float("nan"),
            **cpu_figures(outcome, len(lists), "list page")[1],
        }
        total = spec["params"]["total"]
        wrong_pages = {k: v for k, v in answers.items() if k not in ("login", "page")}
        fives = sum(1 for s in samples if s[1] >= 500)
        no_answer = sum(1 for s in samples if s[1] == 0)
        n_clients = spec["clients"]
        checks = [
            Check("every organizer logged in (303)", answers["login"] == n_clients, f"{answers['login']} of {n_clients}"),
            Check(f"every list page 200 with its rows and the total ({total})",
                  answers["page"] == len(lists) and len(lists) > 0 and not wrong_pages,
                  f"{answers['page']} of {len(lists)}" + (f"; {dict(wrong_pages)}" if wrong_pages else "")),
            Check(f"every CSV export 200 with exactly {total:,} data rows",
                  len(csv_rows) == spec["params"]["exports"] == len(exports) and all(r == total for r in csv_rows),
                  f"{len(exports)} exports: {', '.join(str(r) for r in csv_rows) or 'none'} rows"),
            Check("zero 5xx and zero requests without an answer", fives == 0 and no_answer == 0,
                  f"{fives} 5xx, {no_answer} without an answer"),
            Check("no client error", not outcome["errors"], "; ".join(outcome["errors"][:3])),
        ]
        return RunResult(figures, checks, stats.status_counts(samples))


def _login(http, params: dict) -> bool:
    form = http.get("/organizer/login", label="login page")
    token = csrf_token(form.text) if form.status == 200 else None
    if token is None:
        return False
    answer = http.post_form("/organizer/login", {"csrf_token": token, "email": params["email"],
                                                 "password": params["password"], "next": ""}, label="login")
    return answer.status == 303


def _csv_rows(body: bytes) -> int | None:
    """Data rows of the export, or None when it is not the export (no BOM, no header)."""
    text = body.decode("utf-8")
    if not text.startswith("\ufeff"):
        return None
    rows = list(csv.reader(io.StringIO(text[1:])))
    return len(rows) - 1 if rows and rows[0] else None


def client(http, params: dict, index: int) -> dict:
    """Log in, read list pages for `seconds`; the first client then downloads the export `exports` times."""
    answers: Counter[str] = Counter()
    if not _login(http, params):
        return {"answers": {"login failed": 1}}
    answers["login"] += 1
    pages = params["pages"]
    expected_total = f"of {params['total']}"
    end = time.perf_counter() + params["seconds"]
    page = 1 + index * 7 % pages
    while time.perf_counter() < end:
        answer = http.get(f"{params['list']}?page={page}", label="list")
        rows = answer.text.count(ROW_MARKER) if answer.status == 200 else -1
        want = min(PER_PAGE, params["total"] - (page - 1) * PER_PAGE)
        if answer.status == 200 and expected_total in answer.text and rows == want:
            answers["page"] += 1
        else:
            answers[f"list page {answer.status} with {rows} rows"] += 1
        page = page % pages + 1
    out: dict = {"answers": dict(answers)}
    if index == 0:
        out["csv_rows"], out["csv_bytes"] = [], []
        for _ in range(params["exports"]):
            answer = http.get(params["csv"], label="export")
            ok = answer.status == 200 and answer.headers.get("content-type", "").startswith("text/csv")
            out["csv_rows"].append(_csv_rows(answer.body) if ok else -answer.status)
            out["csv_bytes"].append(len(answer.body))
    return out
