"""Home page with 50 upcoming events (issue 7): `--page-clients` visitors (16) GET `/` back to back.

Before each run the bench database is topped up to `--home-events` (50) upcoming published events:
the scenario's own, starting over the next weeks, each with a free ticket type and most with a paid
one too (so the cards show price ranges), plus whatever events the other scenarios of the session
made before (a rush's event, the check-in event ...), which the page lists as well. So the first
round has exactly 50 cards and later rounds may have a few more; the figure "events on the page"
says how many. The query count does not depend on it: tests/events/test_public_index.py and
tests/bench/test_pages.py assert a fixed number of queries whatever the number of events.

Figures, targets and checks as for the event page (bench/scenarios/event_page.py); target (issue 7):
requests/s at least 40 % of the `SELECT 1` floor. Checks: every answer 200 listing every one of the
scenario's events and exactly as many cards as there are upcoming published events.
"""
from __future__ import annotations

from bench.scenarios import Check, Figure, Scenario, Target
from bench.scenarios._pages import FLOOR
from bench.scenarios.event_page import PageScenario

CARD = '<li class="event-card">'


def add_arguments(group) -> None:
    group.add_argument("--home-events", type=int, default=50, metavar="N",
                       help="upcoming published events on the home page (default 50)")


def scenarios(args) -> list[Scenario]:
    return [HomePage(args.page_clients, args.page_seconds, args.home_events)]


def upcoming_count() -> int:
    from sqlalchemy import func, select

    from eventsite.core.db import utcnow
    from eventsite.events.models import Event, EventStatus
    from eventsite.extensions import db

    return db.session.scalar(select(func.count()).select_from(Event).where(
        Event.status == EventStatus.PUBLISHED, Event.ends_at > utcnow()))


class HomePage(PageScenario):
    name = "home_page"
    label = "home"
    figures = [*PageScenario.figures, Figure("events_listed", "events on the page", "", 0)]
    targets = [Target("floor_share_pct", ">=", 40, f"requests/s at least 40 % of {FLOOR}")]
    right_text = "every answer 200 listing every event"

    def __init__(self, clients: int, seconds: float, events: int):
        super().__init__(clients, seconds)
        self.events = events
        self.title = f"Home page with {events} upcoming events: {clients} concurrent visitors"

    def describe(self) -> str:
        return (f"{self.clients} clients GET `/` back to back for {self.seconds:g} s, each request a new visitor; "
                f"at least {self.events} upcoming published events (topped up before each run; the other "
                "scenarios' events are listed too, see \"events on the page\"). Checked: every answer 200 with "
                "every event's title and exactly one card per upcoming event; zero 5xx.")

    def _top_up(self, env) -> dict:
        from bench import seed

        state = env.shared.setdefault("home_page", {"titles": []})
        with env.app_context() as db:
            n = len(state["titles"])
            missing = self.events - upcoming_count()
            for i in range(n, n + max(missing, 0)):
                title = f"Leadership Circle No. {i + 1}"
                event = seed.published_event(env, title, days_ahead=2 + i % 60, slug_prefix="home",
                                             venue_name=f"Community Hall {i % 7 + 1}")
                seed.free_ticket_type(event, 80, name="Seat")
                if i % 4:
                    seed.paid_ticket_type(event, 40, 1500 + 500 * (i % 5), name="Supporter seat")
                state["titles"].append(title)
            db.session.commit()
            state["listed"] = upcoming_count()
        return state

    def params(self, env) -> dict:
        state = self._top_up(env)
        # The titles as the page escapes them (none has a character to escape).
        return {"paths": ["/"], "expect": [f">{t}</a>" for t in state["titles"]],
                "marker": CARD, "marker_count": min(state["listed"], 100)}

    def extra_checks(self, env, spec: dict) -> list[Check]:
        return [Check(f"at least {self.events} events on the page",
                      spec["params"]["marker_count"] >= self.events, f"{spec['params']['marker_count']}")]

    def evaluate(self, env, spec, outcome):
        result = super().evaluate(env, spec, outcome)
        result.figures["events_listed"] = spec["params"]["marker_count"]
        return result


