"""The scenarios, and what a scenario is.

A scenario module (listed in MODULES, in the order they run) provides:

- `add_arguments(parser)`: its command-line options (prefixed with its name, e.g. `--rush`);
- `scenarios(args) -> list[Scenario]`: its instances for those options (the rush has one per
  CLIENTSxCAPACITY pair), or [] when it cannot run (say so with `Scenario.skipped`);
- a client function `client(http, params, index) -> dict` that the load generator process runs
  once per concurrent client (see bench/loadgen.py); the module must import without the app.

A `Scenario` seeds what it needs through the app's services (`setup` once, `prepare` before each
run), hands the load generator a spec, and turns the outcome into figures and checks (`evaluate`).
Figures are numbers of one run (the report shows the median of the runs with min and max); checks
are correctness conditions that must hold in every run (exact capacity sold, no 5xx ...).

To add one of issue 7's scenarios (event page, home page, checkout, attendee list, follow-up
planning, outbox delivery): a module here with the three functions above, added to MODULES.
"""
from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass, field

MODULES = ["floors", "registration_rush", "checkin", "followup_planning", "outbox_delivery",
           "event_page", "home_page", "checkout_start", "attendee_list"]


@dataclass(frozen=True)
class Figure:
    key: str  # the key in RunResult.figures
    label: str  # for the report
    unit: str = ""  # "ms", "/s", ...
    digits: int = 1


@dataclass(frozen=True)
class Target:
    key: str
    op: str  # ">=" or "<"
    value: float
    text: str  # "at least 100 registrations/s"

    def met(self, value: float) -> bool:
        if value is None or value != value:  # NaN: nothing was measured
            return False
        return value >= self.value if self.op == ">=" else value < self.value


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class RunResult:
    figures: dict[str, float]
    checks: list[Check]
    counts: dict[str, int] = field(default_factory=dict)  # "<label> <status>": n
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


class Scenario:
    """Base class; see the module doc."""

    name = "scenario"  # unique, e.g. "registration_rush 50x1000"
    title = ""
    module = ""  # the module the load generator imports for the client function
    figures: list[Figure] = []
    targets: list[Target] = []
    floor: str | None = None  # the floor whose requests/s this scenario's requests/s is compared with
    is_floor = False
    skipped: str | None = None  # why this scenario does not run (e.g. an endpoint missing)

    def describe(self) -> str:
        """One paragraph for the report: what the clients do and what is checked."""
        return ""

    def setup(self, env) -> None:
        """Once, before the first run (and before the warm-up)."""

    def warmup(self, env) -> dict | None:
        """A load spec run once before the first run, not measured; None for no warm-up."""
        return None

    def prepare(self, env, run: int) -> dict:
        """Seed what run `run` (1-based) needs; return the load spec (see bench/loadgen.py)."""
        raise NotImplementedError

    def run(self, env, spec: dict) -> dict:
        """Run one load and return its outcome: by default the load generator over HTTP
        (`env.run_load`). A scenario without HTTP clients (follow-up planning, outbox delivery)
        overrides this to do and time its own work; `evaluate` gets what it returns."""
        return env.run_load(spec)

    def evaluate(self, env, spec: dict, outcome: dict) -> RunResult:
        raise NotImplementedError


CPU_FIGURES = [
    Figure("app_cpu_ms", "gunicorn CPU per {unit}", "ms", 2),
    Figure("db_cpu_ms", "PostgreSQL CPU per {unit}", "ms", 2),
    Figure("loadgen_cpu_ms", "load generator CPU per {unit}", "ms", 2),
    Figure("machine_busy_pct", "machine busy (all cores)", "%", 0),
]


def cpu_figures(outcome: dict, count: int, unit: str) -> tuple[list[Figure], dict[str, float]]:
    """CPU time per `unit` (a request, a registration ...) of gunicorn, of the database backends and
    of the load generator, and how busy the machine was: figures that drift less than throughput on
    a shared machine."""
    cpu = outcome.get("cpu") or {}
    figures = [Figure(f.key, f.label.format(unit=unit), f.unit, f.digits) for f in CPU_FIGURES]
    if not count or not cpu:
        return figures, {}
    return figures, {
        "app_cpu_ms": cpu["gunicorn_cpu_s"] * 1000 / count,
        "db_cpu_ms": cpu["postgres_cpu_s"] * 1000 / count,
        "loadgen_cpu_ms": outcome.get("cpu_s", float("nan")) * 1000 / count,
        "machine_busy_pct": cpu["machine_busy_share"] * 100,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for name in MODULES:
        group = parser.add_argument_group(f"scenario {name}")
        importlib.import_module(f"bench.scenarios.{name}").add_arguments(group)


def build(args: argparse.Namespace, selected: list[str] | None = None) -> list[Scenario]:
    """The scenario instances of the selected modules (all when None), floors first."""
    out: list[Scenario] = []
    for name in MODULES:
        if selected and name not in selected and not (name == "floors" and getattr(args, "floors", True)):
            continue
        out.extend(importlib.import_module(f"bench.scenarios.{name}").scenarios(args))
    return out
