"""Registration rush (issue 3 deliverable 12, issue 7): many people register for a free ticket at once.

For each `--rush CLIENTSxCAPACITY` (default 50x1000, 500x100 and 50x40) a fresh published event gets
one free ticket type of that capacity. CLIENTS clients start together; each plays visitors one
after the other: a new visitor (empty cookie jar) GETs the event page, takes the CSRF token from
its form, and POSTs `name`, `email` (unique) and `quantity-<id>=1` to `/events/<slug>/register`,
as a browser does. A registration answers 303 to `/tickets/<token>`; the client then plays the next
visitor. When the answer is 409 with "... is sold out" the client stops: everyone who came after the
last seat went was told so. (A visitor who finds the page already sold out still posts, like a tab
opened a minute earlier; the form's token is then the waitlist form's, tied to the same session.)
So CAPACITY registrations and exactly one sold-out answer per client are expected, whether CAPACITY
is above CLIENTS (each client registers many visitors) or below (most are turned away).

Figures: completed registrations per second (registrations divided by the time from the start to
the last successful registration, i.e. the rate at which the tickets sold), requests per second
over the whole run, and latency percentiles of the POST (all of them: registrations and sold-out
answers) and of the page. Checks in the database: exactly CAPACITY valid tickets of the type,
`ticket_types.sold == CAPACITY`, CAPACITY confirmed orders each with one confirmation email in the
outbox; and in the answers: CAPACITY registrations, zero 5xx, zero requests without an answer, every
other POST a 409 with the sold-out message.

`--rush-spread S` lets the clients arrive evenly over S seconds instead of all at once (client i of
N starts i/N x S seconds after the release), as people do when sales open; the default is the
issue's rush, everyone at once. Registrations/s then also measure how fast people arrive.

Burst floor (issue 7: is "POST p99 under 500 ms" reachable at all?): right after each run the same
CLIENTS clients, released together again, each send `GET /_bench/select1` (bench/floor_routes.py)
back to back as many times as it sent requests in the rush. Its p99 is about the least the rush's
POST p99 could be on this server with that many clients arriving at once, whatever the app did.
Its registrations/s are what the rush's would be if every request cost one `SELECT 1`: every second
request of a client stands for a POST, and the time the CAPACITY-th of those was answered for the
last sale.
"""
from __future__ import annotations

import re
import time
from collections import Counter

from bench import stats
from bench.loadgen import csrf_token
from bench.scenarios import Check, Figure, RunResult, Scenario, Target, cpu_figures

MODULE = "bench.scenarios.registration_rush"
BURST_PATH = "/_bench/select1"
DEFAULT_RUSHES = ["50x1000", "500x100", "50x40"]
TICKET_TYPE_NAME = "General admission"


def _rush(value: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[x:]\s*(\d+)\s*", value)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ValueError(f"expected CLIENTSxCAPACITY, e.g. 50x1000, not {value!r}")
    return int(m.group(1)), int(m.group(2))


def add_arguments(group) -> None:
    group.add_argument("--rush", action="append", type=_rush, metavar="CLIENTSxCAPACITY",
                       help="concurrent clients and ticket capacity of one rush; repeat for several "
                            f"(default: {' '.join(DEFAULT_RUSHES)})")
    group.add_argument("--rush-spread", type=float, default=0, metavar="S",
                       help="clients arrive evenly over S seconds instead of all at once (default 0: at once); "
                            "the burst floor is spread the same way")
    group.add_argument("--rush-follow", action="store_true",
                       help="after each registration also GET the ticket page it redirects to")
    group.add_argument("--rush-time-limit", type=float, default=180, metavar="S",
                       help="no request starts after this many seconds of a run (default 180)")


def scenarios(args) -> list[Scenario]:
    rushes = args.rush or [_rush(r) for r in DEFAULT_RUSHES]
    return [RegistrationRush(clients, capacity, follow=args.rush_follow, time_limit=args.rush_time_limit,
                             spread=args.rush_spread)
            for clients, capacity in rushes]


class RegistrationRush(Scenario):
    module = MODULE
    floor = "floor select1"
    figures = [
        Figure("registrations_per_s", "registrations/s", "/s", 0),
        Figure("requests_per_s", "requests/s", "/s", 0),
        Figure("post_p50_ms", "POST p50", "ms"),
        Figure("post_p90_ms", "POST p90", "ms"),
        Figure("post_p99_ms", "POST p99", "ms"),
        Figure("burst_p99_ms", "burst floor p99 (SELECT 1, same clients and requests, at once)", "ms"),
        Figure("burst_registrations_per_s", "burst floor registrations/s (each request a SELECT 1)", "/s", 0),
        Figure("post_max_ms", "POST max", "ms"),
        Figure("page_p50_ms", "page p50", "ms"),
        Figure("page_p99_ms", "page p99", "ms"),
        Figure("sold_out_after_s", "sold out after", "s", 2),
        *cpu_figures({}, 0, "registration")[0],
    ]
    targets = [
        Target("registrations_per_s", ">=", 100, "at least 100 completed registrations/s"),
        Target("post_p99_ms", "<", 500, "POST p99 under 500 ms"),
    ]

    def __init__(self, clients: int, capacity: int, *, follow: bool = False, time_limit: float = 180,
                 burst_path: str = BURST_PATH, spread: float = 0):
        self.clients, self.capacity = clients, capacity
        self.follow = follow
        self.time_limit = time_limit
        self.burst_path = burst_path  # the suite's tests use a route of their app (no floor routes)
        self.spread = max(spread, 0.0)  # seconds over which the clients arrive (0: all at once)
        over = f" over {self.spread:g} s" if self.spread else ""
        self.name = f"registration_rush {clients}x{capacity}{over}"
        self.title = (f"Registration rush: {clients} concurrent clients, capacity {capacity:,}"
                      + (f", arriving evenly over {self.spread:g} s" if self.spread else ""))

    def describe(self) -> str:
        follow = ", then GETs the ticket page" if self.follow else ""
        arrival = f"arriving evenly over {self.spread:g} s" if self.spread else "at once"
        return (f"{self.clients} clients {arrival}; each plays visitors one after the other: GET the event page, "
                f"POST the form for one free ticket (capacity {self.capacity:,}){follow}, until told sold out. "
                "Registrations/s = registrations / time to the last one. Checked in the database: exactly "
                f"{self.capacity:,} tickets, `sold` = {self.capacity:,}, one confirmation queued per order; "
                "in the answers: zero 5xx, every other POST a 409 saying sold out. Burst floor: after each run "
                f"the same {self.clients} clients, released together, each `GET {self.burst_path}` back to back "
                "as many times as it sent requests in the rush; its p99 is about the least the rush's POST p99 "
                "could be on this server, and its registrations/s (every second request standing for a POST) "
                "what the rush's would be if every request cost one `SELECT 1`.")

    # -- data

    def _seed(self, env, capacity: int, label: str) -> dict:
        from bench import seed

        with env.app_context() as db:
            event = seed.published_event(env, f"Leadership Evening: {label}", slug_prefix="rush")
            tt = seed.free_ticket_type(event, capacity, name=TICKET_TYPE_NAME)
            db.session.commit()
            return {"event_id": event.id, "ticket_type_id": tt.id, "slug": event.slug}

    def _spec(self, seeded: dict, clients: int, max_visits: int, tag: str) -> dict:
        slug = seeded["slug"]
        return {
            "module": self.module, "clients": clients, "time_limit": self.time_limit,
            "params": {
                "page": f"/events/{slug}", "action": f"/events/{slug}/register",
                "field": f"quantity-{seeded['ticket_type_id']}", "max_visits": max_visits, "tag": tag,
                "sold_out_text": f"“{TICKET_TYPE_NAME}” is sold out", "follow": self.follow,
            },
            "seeded": seeded,
        }

    def warmup(self, env) -> dict | None:
        """Once per database: every worker thread renders the page and registers a few times."""
        if env.shared.get("registration_warm"):
            return None
        env.shared["registration_warm"] = True
        slots = env.workers * env.threads
        clients = min(max(slots * 2, 8), 64)
        seeded = self._seed(env, clients * 3, "warm-up")
        return self._spec(seeded, clients, 3, "warm")

    def prepare(self, env, run: int) -> dict:
        seeded = self._seed(env, self.capacity, f"rush {self.clients}x{self.capacity} run {run}")
        spec = self._spec(seeded, self.clients, self.capacity + 2, f"{self.clients}x{self.capacity}r{run}")
        spec["params"].update(spread=self.spread, clients=self.clients)
        return dict(spec, burst=True)

    def run(self, env, spec: dict) -> dict:
        """The rush, then (measured runs only) its burst floor with the same clients and request counts."""
        outcome = env.run_load(spec)
        if spec.get("burst"):
            requests = [r.get("requests", 0) for r in outcome["results"]]
            outcome["burst"] = env.run_load({
                "module": self.module, "function": "burst_client", "clients": len(requests),
                "time_limit": self.time_limit,
                "params": {"path": self.burst_path, "requests": requests, "spread": self.spread,
                           "clients": len(requests)},
            })
        return outcome

    # -- results

    def evaluate(self, env, spec: dict, outcome: dict) -> RunResult:
        samples = outcome["samples"]
        posts = [s for s in samples if s[0] == "register"]
        pages = [s for s in samples if s[0] == "page"]
        registered_posts = [s for s in posts if s[1] == 303]
        per_client = [Counter(r) for r in outcome["results"]]
        told = sum(c["registered"] for c in per_client)
        sold_out = sum(c["told sold out"] for c in per_client)
        last_sale = max((s[2] + s[3] for s in registered_posts), default=float("nan"))
        elapsed = outcome["elapsed"] or float("nan")

        burst = outcome.get("burst") or {"samples": [], "errors": []}  # none: evaluated without run()
        figures = {
            "registrations_per_s": told / last_sale if told else 0.0,
            "requests_per_s": len(samples) / elapsed,
            "sold_out_after_s": last_sale,
            **stats.latency_ms([s[3] for s in posts], "post"),
            **stats.latency_ms([s[3] for s in pages], "page"),
            "burst_p99_ms": stats.latency_ms([s[3] for s in burst["samples"]], "burst").get("burst_p99_ms", float("nan")),
            "burst_registrations_per_s": self._burst_registrations_per_s(burst),
            **cpu_figures(outcome, told, "registration")[1],
        }
        fives = sum(1 for s in samples if s[1] >= 500)
        no_answer = sum(1 for s in samples if s[1] == 0)
        unexpected = Counter()
        for c in per_client:
            unexpected.update({k: v for k, v in c.items() if k.startswith("unexpected")})

        seeded = spec["seeded"]
        db_state = self._database_state(env, seeded)
        m = self.capacity
        checks = [
            Check(f"exactly {m} valid tickets in the database", db_state["tickets"] == m, f"{db_state['tickets']}"),
            Check(f"ticket_types.sold == {m}", db_state["sold"] == m, f"{db_state['sold']}"),
            Check(f"{m} confirmed orders, one confirmation email queued for each",
                  db_state["orders"] == m and db_state["confirmations"] == m,
                  f"{db_state['orders']} orders, {db_state['confirmations']} confirmations"),
            Check(f"{m} visitors were told they are registered (303 to their ticket page)", told == m, f"{told}"),
            Check("zero 5xx and zero requests without an answer", fives == 0 and no_answer == 0,
                  f"{fives} 5xx, {no_answer} without an answer"),
            Check("every other POST answered 409 with the sold-out message",
                  not unexpected and sold_out == len(posts) - told,
                  f"{sold_out} told sold out" + (f"; {dict(unexpected)}" if unexpected else "")),
            Check("every client was finally told sold out", sold_out == self.clients,
                  f"{sold_out} of {self.clients} clients"),
            Check("no client error", not outcome["errors"], "; ".join(outcome["errors"][:3])),
            *([self._burst_check(burst, len(samples))] if "burst" in outcome else []),
        ]
        notes = []
        offered = sum(c["page offered the form"] for c in per_client)
        notes.append(f"{len(posts)} POSTs; {offered} pages still offered the form, "
                     f"{sum(c['page said sold out'] for c in per_client)} already said sold out")
        return RunResult(figures, checks, stats.status_counts(samples), notes)

    def _burst_registrations_per_s(self, burst: dict) -> float:
        """CAPACITY over the time the CAPACITY-th "POST" of the burst floor was answered."""
        answered = sorted(t for r in burst.get("results", []) for t in r.get("posts_answered", []))
        if len(answered) < self.capacity or answered[self.capacity - 1] <= 0:
            return float("nan")
        return self.capacity / answered[self.capacity - 1]

    @staticmethod
    def _burst_check(burst: dict, requests: int) -> Check:
        """The burst floor sent as many requests as the rush and each was answered 200."""
        ok = sum(1 for s in burst["samples"] if s[1] == 200)
        return Check("burst floor: as many requests as the rush, every answer 200",
                     ok == len(burst["samples"]) == requests and not burst["errors"],
                     f"{ok} of {len(burst['samples'])} answered 200, rush {requests}"
                     + (f"; {burst['errors'][0]}" if burst["errors"] else ""))

    @staticmethod
    def _database_state(env, seeded: dict) -> dict:
        from sqlalchemy import func, select

        from eventsite.core.mail.models import OutboxMessage
        from eventsite.events.models import TicketType
        from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus

        with env.app_context() as db:
            tickets = db.session.scalar(select(func.count()).select_from(Ticket).where(
                Ticket.ticket_type_id == seeded["ticket_type_id"], Ticket.status == TicketStatus.VALID))
            sold = db.session.scalar(select(TicketType.sold).where(TicketType.id == seeded["ticket_type_id"]))
            order_ids = db.session.scalars(select(Order.id).where(
                Order.event_id == seeded["event_id"], Order.status == OrderStatus.CONFIRMED)).all()
            keys = [f"confirmation:{i}" for i in order_ids]
            confirmations = 0
            for start in range(0, len(keys), 500):
                confirmations += db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.key.in_(keys[start:start + 500])))
            return {"tickets": tickets, "sold": sold, "orders": len(order_ids), "confirmations": confirmations}


def _arrive(params: dict, index: int) -> None:
    """With a spread, client `index` of N starts `index / N * spread` seconds after the release."""
    spread = params.get("spread") or 0
    if spread:
        time.sleep(index * spread / params["clients"])


def client(http, params: dict, index: int) -> dict:
    """Visitors one after the other until one is told sold out (see the module doc)."""
    counts: Counter[str] = Counter()
    _arrive(params, index)
    for visit in range(params["max_visits"]):
        http.new_visitor()
        page = http.get(params["page"], label="page")
        if page.status != 200:
            counts[f"unexpected page {page.status}"] += 1
            break
        html = page.text
        token = csrf_token(html)
        if token is None:
            counts["unexpected page without a CSRF token"] += 1
            break
        counts["page offered the form" if f'name="{params["field"]}"' in html else "page said sold out"] += 1
        fields = {
            "csrf_token": token,
            "name": f"Rush Visitor {index}-{visit}",
            "email": f"rush-{params['tag']}-{index}-{visit}@example.org",
            params["field"]: "1",
        }
        answer = http.post_form(params["action"], fields, label="register")
        location = answer.headers.get("location", "")
        if answer.status == 303 and "/tickets/" in location:
            counts["registered"] += 1
            if params.get("follow"):
                ticket = http.get(location[location.index("/tickets/"):], label="ticket page")
                if ticket.status != 200:
                    counts[f"unexpected ticket page {ticket.status}"] += 1
            continue
        if answer.status == 409 and params["sold_out_text"] in answer.text:
            counts["told sold out"] += 1
        else:
            counts[f"unexpected POST {answer.status}"] += 1
        break
    return {**counts, "requests": len(http.samples)}


def burst_client(http, params: dict, index: int) -> dict:
    """The burst floor: `GET path` back to back, as many times as client `index` sent requests.
    Returns when each second request (a POST in the rush) was answered, from the start."""
    answered = []
    _arrive(params, index)
    for n in range(1, params["requests"][index] + 1):
        http.get(params["path"], label="burst")
        if n % 2 == 0:
            _, _, start, duration = http.samples[-1]
            answered.append(start + duration)
    return {"posts_answered": answered}
