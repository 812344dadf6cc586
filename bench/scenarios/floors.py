"""Floors (issue 7): what the same gunicorn answers when the app does (next to) nothing.

- `floor constant`: GET /_bench/constant, a bare Flask route returning a constant;
- `floor select1`: GET /_bench/select1, the same plus one `SELECT 1` on the bench database.

Each client sends requests back to back on its keep-alive connection for `--floor-seconds`. Both
routes exist only in bench/wsgi_bench.py. Other scenarios report their requests/s as a share of
the `select1` floor measured in the same run.
"""
from __future__ import annotations

import time

from bench import stats
from bench.scenarios import Check, Figure, RunResult, Scenario, cpu_figures

MODULE = "bench.scenarios.floors"


def add_arguments(group) -> None:
    group.add_argument("--floor-clients", type=int, default=50, metavar="N",
                       help="concurrent clients for the floors (default 50, the rush's)")
    group.add_argument("--floor-seconds", type=float, default=4.0, metavar="S",
                       help="how long each floor run lasts (default 4)")
    group.add_argument("--no-floors", dest="floors", action="store_false",
                       help="skip the floors (then no ratios are reported)")


def scenarios(args) -> list[Scenario]:
    if not args.floors:
        return []
    return [Floor("constant", "/_bench/constant", "ok", args.floor_clients, args.floor_seconds),
            Floor("select1", "/_bench/select1", "1", args.floor_clients, args.floor_seconds)]


class Floor(Scenario):
    module = MODULE
    is_floor = True
    figures = [
        Figure("requests_per_s", "requests/s", "/s", 0),
        Figure("req_p50_ms", "p50", "ms"),
        Figure("req_p99_ms", "p99", "ms"),
        *cpu_figures({}, 0, "request")[0],
    ]

    def __init__(self, kind: str, path: str, expect: str, clients: int, seconds: float):
        self.kind, self.path, self.expect = kind, path, expect
        self.clients, self.seconds = clients, seconds
        self.name = f"floor {kind}"
        what = "a constant" if kind == "constant" else "the result of one `SELECT 1`"
        self.title = f"Floor: a bare route returning {what}"

    def describe(self) -> str:
        return (f"{self.clients} clients send `GET {self.path}` back to back for {self.seconds:g} s each run "
                "(route mounted only by bench/wsgi_bench.py).")

    def warmup(self, env) -> dict:
        return self._spec(min(self.seconds, 1.0))

    def prepare(self, env, run: int) -> dict:
        return self._spec(self.seconds)

    def _spec(self, seconds: float) -> dict:
        return {"module": self.module, "clients": self.clients, "time_limit": seconds + 30,
                "params": {"path": self.path, "seconds": seconds, "expect": self.expect}}

    def evaluate(self, env, spec: dict, outcome: dict) -> RunResult:
        samples = outcome["samples"]
        elapsed = outcome["elapsed"] or float("nan")
        good = sum(1 for s in samples if s[1] == 200)
        wrong = sum(r.get("wrong_body", 0) for r in outcome["results"])
        figures = {"requests_per_s": len(samples) / elapsed,
                   **stats.latency_ms([s[3] for s in samples], "req"),
                   **cpu_figures(outcome, len(samples), "request")[1]}
        # The latest measure of this floor, for scenarios whose target is a share of it (event page ...).
        env.shared[f"{self.name} requests_per_s"] = figures["requests_per_s"]
        checks = [
            Check("every answer 200", good == len(samples) and len(samples) > 0, f"{good} of {len(samples)}"),
            Check("every body as expected", wrong == 0, f"{wrong} wrong bodies"),
            Check("no client error", not outcome["errors"], "; ".join(outcome["errors"][:3])),
        ]
        return RunResult(figures, checks, stats.status_counts(samples))


def client(http, params: dict, index: int) -> dict:
    """Requests back to back until `seconds` have passed."""
    end = time.perf_counter() + params["seconds"]
    wrong = 0
    while time.perf_counter() < end:
        response = http.get(params["path"], label="GET")
        if response.body.decode() != params["expect"]:
            wrong += 1
    return {"wrong_body": wrong}
