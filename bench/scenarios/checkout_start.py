"""Paid checkout start against the fake Stripe API (issue 7): `--checkout-clients` visitors (16).

gunicorn talks to the fake Stripe API the tests use (tests/payments/fake_stripe.py), which the
harness starts on loopback and hands to the app as `STRIPE_API_BASE` with a test key
(`STRIPE_SECRET_KEY`) and a webhook secret, so every session goes through stripe-python's real
client (encoding, idempotency key, HTTP). Each run gets a fresh published event with one paid ticket
type (25.00 EUR) whose capacity no run reaches. For `--checkout-seconds` (8) every client plays
visitors one after the other: a new visitor GETs the event page, takes the form's CSRF token and
POSTs `name`, a unique `email` and one paid ticket to `/events/<slug>/register`, which holds the
seat, creates the Checkout Session and answers 303 to its URL.

Figures: started checkouts per second (303s to the Checkout URL / run time), requests/s, latency of
the POST and of the page, CPU per checkout. Target (issue 7): at least 60 started checkouts/s.
Checks: every POST answered 303 to the fake Checkout URL (`https://checkout.stripe.test/c/pay/cs_test_...`);
in the database one `pending_payment` order per started checkout, each holding its one valid
ticket until a future `hold_expires_at`, with an `open` payment whose session id is the one the
visitor was sent to; `ticket_types.sold` and `events.sold` equal to the holds; at the fake Stripe
one session per order, for 2,500 cents, each with its own idempotency key; zero 5xx.
"""
from __future__ import annotations

import time
from collections import Counter

from bench import stats
from bench.loadgen import csrf_token
from bench.scenarios import Check, Figure, RunResult, Scenario, Target, cpu_figures

MODULE = "bench.scenarios.checkout_start"
CHECKOUT_PREFIX = "https://checkout.stripe.test/c/pay/cs_test_"
PRICE_CENTS = 2500
CAPACITY = 100_000


def add_arguments(group) -> None:
    group.add_argument("--checkout-clients", type=int, default=16, metavar="N",
                       help="concurrent visitors starting a paid checkout (default 16)")
    group.add_argument("--checkout-seconds", type=float, default=8.0, metavar="S",
                       help="how long each checkout run lasts (default 8)")


def scenarios(args) -> list[Scenario]:
    return [CheckoutStart(args.checkout_clients, args.checkout_seconds)]


class CheckoutStart(Scenario):
    name = "checkout_start"
    module = MODULE
    floor = "floor select1"
    figures = [
        Figure("checkouts_per_s", "started checkouts/s", "/s", 0),
        Figure("requests_per_s", "requests/s", "/s", 0),
        Figure("post_p50_ms", "POST p50", "ms"),
        Figure("post_p90_ms", "POST p90", "ms"),
        Figure("post_p99_ms", "POST p99", "ms"),
        Figure("post_max_ms", "POST max", "ms"),
        Figure("page_p50_ms", "page p50", "ms"),
        Figure("page_p99_ms", "page p99", "ms"),
        *cpu_figures({}, 0, "checkout")[0],
    ]
    targets = [Target("checkouts_per_s", ">=", 60, "at least 60 started checkouts/s")]

    def __init__(self, clients: int, seconds: float):
        self.clients, self.seconds = clients, seconds
        self.title = f"Paid checkout start against the fake Stripe API: {clients} concurrent visitors"

    def describe(self) -> str:
        return (f"{self.clients} clients for {self.seconds:g} s; each plays visitors one after the other: GET the "
                "event page, POST the form for one paid ticket (25.00 EUR), which holds the seat, creates a "
                "Checkout Session at the fake Stripe API (tests/payments/fake_stripe.py, through stripe-python) "
                "and answers 303 to it. Checked: every POST a 303 to the Checkout URL; one pending order per "
                "checkout holding one ticket, its payment open with the session the visitor got; `sold` equal "
                "to the holds; one session per order at the fake Stripe, each with its own idempotency key. (The "
                "fake Stripe runs in the benchmark's own process: its CPU is not in the figures.)")

    def _seed(self, env, label: str) -> dict:
        from bench import seed

        with env.app_context() as db:
            event = seed.published_event(env, f"Leadership Summit: {label}", slug_prefix="checkout")
            tt = seed.paid_ticket_type(event, CAPACITY, PRICE_CENTS, name="Summit pass")
            db.session.commit()
            return {"event_id": event.id, "ticket_type_id": tt.id, "slug": event.slug}

    def _spec(self, seeded: dict, clients: int, seconds: float, tag: str) -> dict:
        slug = seeded["slug"]
        return {"module": self.module, "clients": clients, "time_limit": seconds + 60,
                "params": {"page": f"/events/{slug}", "action": f"/events/{slug}/register", "seconds": seconds,
                           "field": f"quantity-{seeded['ticket_type_id']}", "tag": tag, "prefix": CHECKOUT_PREFIX},
                "seeded": seeded}

    def warmup(self, env) -> dict:
        return self._spec(self._seed(env, "warm-up"), self.clients, 2.0, "warm")

    def prepare(self, env, run: int) -> dict:
        return self._spec(self._seed(env, f"run {run}"), self.clients, self.seconds, f"r{run}-{time.time_ns()}")

    # -- results

    def evaluate(self, env, spec: dict, outcome: dict) -> RunResult:
        samples = outcome["samples"]
        posts = [s for s in samples if s[0] == "checkout"]
        pages = [s for s in samples if s[0] == "page"]
        answers: Counter[str] = Counter()
        sent_to: list[str] = []
        for r in outcome["results"]:
            answers.update(r.get("answers", {}))
            sent_to.extend(r.get("sessions", []))
        started = answers["checkout"]
        elapsed = outcome["elapsed"] or float("nan")
        figures = {
            "checkouts_per_s": started / elapsed,
            "requests_per_s": len(samples) / elapsed,
            **stats.latency_ms([s[3] for s in posts], "post"),
            **stats.latency_ms([s[3] for s in pages], "page"),
            **cpu_figures(outcome, started, "checkout")[1],
        }
        db_state = self._database_state(env, spec["seeded"])
        fake = self._fake_stripe_state(env, db_state["order_ids"])
        wrong = {k: v for k, v in answers.items() if k != "checkout"}
        fives = sum(1 for s in samples if s[1] >= 500)
        no_answer = sum(1 for s in samples if s[1] == 0)
        n = started
        checks = [
            Check("every POST answered 303 to the fake Stripe Checkout URL",
                  n > 0 and n == len(posts) and not wrong,
                  f"{n} of {len(posts)}" + (f"; {dict(wrong)}" if wrong else "")),
            Check(f"{n} pending_payment orders, each holding one valid ticket until a future hold_expires_at",
                  db_state["orders"] == n and db_state["pending"] == n and db_state["tickets"] == n
                  and db_state["held_in_future"] == n,
                  f"{db_state['orders']} orders, {db_state['pending']} pending, {db_state['tickets']} tickets, "
                  f"{db_state['held_in_future']} held"),
            Check("each order's payment is open with the session its visitor was sent to",
                  db_state["open_payments"] == n and db_state["session_ids"] == set(sent_to) and len(sent_to) == n,
                  f"{db_state['open_payments']} open payments, {len(db_state['session_ids'] & set(sent_to))} "
                  f"sessions match of {len(sent_to)} sent"),
            Check(f"ticket_types.sold == events.sold == {n} (the held seats)",
                  db_state["type_sold"] == n and db_state["event_sold"] == n,
                  f"{db_state['type_sold']}, {db_state['event_sold']}"),
            Check("one session per order at the fake Stripe, for 2,500 cents, each its own idempotency key",
                  fake["sessions"] == n and fake["amount_ok"] == n and fake["keys"] == n
                  and fake["session_ids"] == db_state["session_ids"],
                  f"{fake['sessions']} sessions, {fake['amount_ok']} for 2,500, {fake['keys']} distinct keys"),
            Check("zero 5xx and zero requests without an answer", fives == 0 and no_answer == 0,
                  f"{fives} 5xx, {no_answer} without an answer"),
            Check("no client error", not outcome["errors"], "; ".join(outcome["errors"][:3])),
        ]
        return RunResult(figures, checks, stats.status_counts(samples))

    @staticmethod
    def _database_state(env, seeded: dict) -> dict:
        from sqlalchemy import func, select

        from eventsite.core.db import utcnow
        from eventsite.events.models import Event, TicketType
        from eventsite.payments.models import Payment, PaymentStatus
        from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus

        with env.app_context() as db:
            now = utcnow()
            orders = db.session.execute(select(Order.id, Order.status, Order.hold_expires_at).where(
                Order.event_id == seeded["event_id"])).all()
            tickets = db.session.scalar(select(func.count()).select_from(Ticket).where(
                Ticket.event_id == seeded["event_id"], Ticket.status == TicketStatus.VALID))
            payments = db.session.execute(select(Payment.status, Payment.checkout_session_id)
                                          .join(Order, Order.id == Payment.order_id)
                                          .where(Order.event_id == seeded["event_id"])).all()
            return {
                "order_ids": [o.id for o in orders],
                "orders": len(orders),
                "pending": sum(o.status == OrderStatus.PENDING_PAYMENT for o in orders),
                "held_in_future": sum(o.hold_expires_at is not None and o.hold_expires_at > now for o in orders),
                "tickets": tickets,
                "open_payments": sum(p.status == PaymentStatus.OPEN for p in payments),
                "session_ids": {p.checkout_session_id for p in payments if p.checkout_session_id},
                "type_sold": db.session.scalar(select(TicketType.sold).where(TicketType.id == seeded["ticket_type_id"])),
                "event_sold": db.session.scalar(select(Event.sold).where(Event.id == seeded["event_id"])),
            }

    @staticmethod
    def _fake_stripe_state(env, order_ids: list[int]) -> dict:
        wanted = {str(i) for i in order_ids}
        calls = [c for c in env.stripe.session_creations()
                 if str((c.params.get("metadata") or {}).get("order_id")) in wanted]
        with env.stripe.lock:
            sessions = [s for s in env.stripe.sessions.values()
                        if str((s.get("metadata") or {}).get("order_id")) in wanted]
        return {
            "sessions": len(sessions),
            "amount_ok": sum(int(s["amount_total"]) == PRICE_CENTS for s in sessions),
            "keys": len({c.idempotency_key for c in calls if c.idempotency_key}),
            "session_ids": {s["id"] for s in sessions},
        }


def client(http, params: dict, index: int) -> dict:
    """Visitors one after the other for `seconds`, each starting a paid checkout (see the module doc)."""
    answers: Counter[str] = Counter()
    sessions: list[str] = []
    end = time.perf_counter() + params["seconds"]
    visit = 0
    while time.perf_counter() < end:
        visit += 1
        http.new_visitor()
        page = http.get(params["page"], label="page")
        token = csrf_token(page.text) if page.status == 200 else None
        if token is None:
            answers[f"page {page.status} without a form"] += 1
            break
        fields = {"csrf_token": token, "name": f"Summit Visitor {index}-{visit}",
                  "email": f"checkout-{params['tag']}-{index}-{visit}@example.org", params["field"]: "1"}
        answer = http.post_form(params["action"], fields, label="checkout")
        location = answer.headers.get("location", "")
        if answer.status == 303 and location.startswith(params["prefix"]):
            answers["checkout"] += 1
            sessions.append(location.rsplit("/", 1)[1])
        else:
            answers[f"POST {answer.status} to {location[:40] or 'nowhere'}"] += 1
    return {"answers": dict(answers), "sessions": sessions}
