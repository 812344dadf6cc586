"""The event page and home page scenarios' own checks at small scale, and the home page's fixed
number of queries with the scenario's own events. No timing is asserted here."""
from __future__ import annotations

from sqlalchemy import event as sa_event

from bench.scenarios.event_page import TITLE_HTML, EventPage
from bench.scenarios.home_page import HomePage
from eventsite.extensions import db


def _run(env, scenario):
    scenario.setup(env)
    spec = scenario.prepare(env, 1)
    outcome = env.run_load(spec)
    return spec, outcome, scenario.evaluate(env, spec, outcome)


def test_event_page_answers_every_visitor_with_the_escaped_title(live_env):
    spec, _, result = _run(live_env, EventPage(clients=3, seconds=0.5))
    assert [f"{c.name}: {c.detail}" for c in result.checks if not c.ok] == []
    assert spec["params"]["expect"] == [TITLE_HTML]
    assert set(result.counts) == {"page 200"} and result.counts["page 200"] >= 3  # at least one per client
    assert result.figures["requests_per_s"] > 0 and result.figures["req_p99_ms"] > 0


def test_event_page_checks_catch_a_page_without_the_title(live_env):
    scenario = EventPage(clients=2, seconds=0.3)
    scenario.setup(live_env)
    spec = scenario.prepare(live_env, 1)
    spec["params"]["expect"] = ["A title this page does not have"]
    result = scenario.evaluate(live_env, spec, live_env.run_load(spec))
    assert {c.name for c in result.checks if not c.ok} == {"every answer 200 with the event's title"}


def test_event_page_checks_catch_a_404(live_env):
    scenario = EventPage(clients=2, seconds=0.3)
    scenario.setup(live_env)
    spec = scenario.prepare(live_env, 1)
    spec["params"]["paths"] = ["/events/no-such-event"]
    result = scenario.evaluate(live_env, spec, live_env.run_load(spec))
    assert not result.ok and "page 404" in result.counts


def test_home_page_is_topped_up_to_the_count_and_lists_every_event(live_env):
    scenario = HomePage(clients=2, seconds=0.5, events=12)
    spec, _, result = _run(live_env, scenario)
    assert [f"{c.name}: {c.detail}" for c in result.checks if not c.ok] == []
    assert result.figures["events_listed"] == 12
    assert len(spec["params"]["expect"]) == 12
    # A second run does not add events: the count is already there.
    spec2 = scenario.prepare(live_env, 2)
    assert spec2["params"]["marker_count"] == 12


def test_home_page_checks_catch_a_missing_card(live_env):
    scenario = HomePage(clients=1, seconds=0.3, events=5)
    scenario.setup(live_env)
    spec = scenario.prepare(live_env, 1)
    spec["params"]["marker_count"] = 6  # one more card expected than the page can show
    result = scenario.evaluate(live_env, spec, live_env.run_load(spec))
    assert {c.name for c in result.checks if not c.ok} == {"every answer 200 listing every event"}


def _queries(app, client, path: str) -> list[str]:
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    return statements


def test_home_page_runs_as_many_queries_with_50_bench_events_as_with_5(app, client, live_env):
    """The bench's own events (a free and mostly a paid ticket type each): 5 and then 50 of them."""
    client.get("/")  # the first connection's set-up is not the page's
    HomePage(clients=1, seconds=0.1, events=5).params(live_env)
    with_5 = _queries(app, client, "/")
    live_env.shared.pop("home_page")
    HomePage(clients=1, seconds=0.1, events=50).params(live_env)
    with_50 = _queries(app, client, "/")
    page = client.get("/").get_data(as_text=True)
    assert page.count('<li class="event-card">') == 50
    assert len(with_50) == len(with_5) <= 4, with_50
