"""The floor routes exist only in the bench app; the floors, the statistics and the report."""
from __future__ import annotations

from datetime import datetime, timezone

from bench import report, stats
from bench.floor_routes import add_floor_routes
from bench.scenarios import Check, RunResult
from bench.scenarios.floors import Floor
from bench.scenarios.registration_rush import RegistrationRush


def test_the_production_app_has_no_bench_routes(app, client):
    assert not [r.rule for r in app.url_map.iter_rules() if "_bench" in r.rule]
    assert client.get("/_bench/select1").status_code == 404


def test_the_floor_routes_answer_a_constant_and_a_select_1(app):
    from eventsite import create_app

    bench_app = add_floor_routes(create_app({k: app.config[k] for k in (
        "SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "EVENTSITE_MAIL_URL", "TESTING")}))
    client = bench_app.test_client()
    assert client.get("/_bench/constant").get_data(as_text=True) == "ok"
    assert client.get("/_bench/select1").get_data(as_text=True) == "1"
    from eventsite.extensions import db

    with bench_app.app_context():
        db.engine.dispose()


def test_a_floor_run_through_the_load_generator(live_env, app):
    """The floor client against a route of the suite's app (it has no bench routes): every
    answer counted, a wrong body caught."""
    floor = Floor("select1", "/healthz", "no such body", clients=3, seconds=0.3)
    spec = floor.prepare(live_env, 1)
    outcome = live_env.run_load(spec)
    result = floor.evaluate(live_env, spec, outcome)
    checks = {c.name: c.ok for c in result.checks}
    assert checks == {"every answer 200": True, "every body as expected": False, "no client error": True}
    assert result.figures["requests_per_s"] > 0 and result.counts["GET 200"] == len(outcome["samples"])


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert stats.percentile(values, 50) == 50.0
    assert stats.percentile(values, 99) == 99.0
    assert stats.percentile([5.0], 99) == 5.0
    assert stats.spread([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)
    assert stats.latency_ms([0.010, 0.020, 0.030], "post")["post_p50_ms"] == 20.0


def test_the_report_shows_medians_targets_floors_and_failed_checks():
    rush = RegistrationRush(50, 1000)
    floor = Floor("select1", "/_bench/select1", "1", 50, 4)
    runs = [RunResult({"registrations_per_s": v, "requests_per_s": 2 * v, "post_p99_ms": 600 - v},
                      [Check("exactly 1000 valid tickets in the database", v != 120, "999")]) for v in (110, 120, 130)]
    floors = [RunResult({"requests_per_s": v}, []) for v in (900, 1000, 1100)]
    text = report.render(
        info={"cores": "2", "cpu": "test cpu", "memory": "24 GiB", "os": "Linux", "python": "3.11", "postgresql": "15",
              "gunicorn": "23", "load average": "0.10 0.20 0.30"},
        command="python -m bench", server="2 workers x 2 threads", runs=3, scenarios=[floor, rush],
        results={floor.name: floors, rush.name: runs}, started=datetime(2030, 1, 1, tzinfo=timezone.utc),
        duration_s=60, load_end="1.00 1.00 1.00", timings={floor.name: 12.4, rush.name: 47.6})
    assert "| registration_rush 50x1000 | registrations/s | 120 | 110 | 130 | at least 100 completed registrations/s | yes |" in text
    assert "| registration_rush 50x1000 | POST p99 (ms) | 480.0 | 470.0 | 490.0 | POST p99 under 500 ms | yes |" in text
    assert "requests/s ÷ floor select1 | 24%" in text  # 240 / 1000
    assert "**failed** in 2 of 3 runs" in text
    assert "✗ exactly 1000 valid tickets in the database (999)" in text
    assert ("the whole session took 60 s (set-up, warm-up, seeding, runs and checks of each scenario: "
            "floor select1 12 s, registration_rush 50x1000 48 s)") in text
