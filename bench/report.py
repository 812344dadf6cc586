"""bench/RESULTS.md: the machine, each scenario's figures (median of the runs, min, max), its
targets, its ratio to the floor measured in the same session, and its checks in every run."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

from bench import stats
from bench.scenarios import RunResult, Scenario


def _fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def figure_spread(results: list[RunResult], key: str) -> tuple[float, float, float]:
    return stats.spread([r.figures.get(key, float("nan")) for r in results])


def floor_ratio(scenario: Scenario, results: list[RunResult], by_name: dict[str, list[RunResult]]) -> float | None:
    if not scenario.floor or scenario.floor not in by_name:
        return None
    mine = figure_spread(results, "requests_per_s")[0]
    floor = figure_spread(by_name[scenario.floor], "requests_per_s")[0]
    return mine / floor if floor else None


def verdicts(scenario: Scenario, results: list[RunResult]) -> list[tuple[str, bool]]:
    """(target text, met by the median) for each target, then whether every check held in every run."""
    out = []
    for t in scenario.targets:
        median = figure_spread(results, t.key)[0]
        out.append((t.text, t.met(median)))
    if not scenario.is_floor:
        out.append(("correctness checks in every run", all(r.ok for r in results)))
    return out


def timings_text(timings: dict[str, float]) -> str:
    """"floor constant 14 s, registration_rush 50x1000 61 s, ...": where a session's wall time went."""
    return ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())


def render(*, info: dict[str, str], command: str, server: str, runs: int,
           scenarios: list[Scenario], results: dict[str, list[RunResult]], started: datetime,
           duration_s: float, load_end: str, timings: dict[str, float] | None = None) -> str:
    spent = (f" (set-up, warm-up, seeding, runs and checks of each scenario: {timings_text(timings)})"
             if timings else "")
    lines = [
        "# Benchmark results",
        "",
        f"- **Date:** {started.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC; the whole session took "
        f"{duration_s:.0f} s{spent}",
        f"- **Command:** `{command}`",
        f"- **Machine:** {info['cores']} cores ({info['cpu']}), {info['memory']} memory, {info['os']}",
        f"- **Software:** Python {info['python']}, PostgreSQL {info['postgresql']} (127.0.0.1), gunicorn {info['gunicorn']}",
        f"- **Server:** gunicorn {server}, `bench.wsgi_bench:app` (the production app plus the floor routes), "
        "`EVENTSITE_ENV=production`, rate limits off, mail to a local SMTP sink (the web process only queues it)",
        "- **Load:** a separate process on the same machine, one thread per client, each with its own "
        "keep-alive connection and cookie jar; latency is measured by the client (it includes queueing)",
        f"- **Load average** (1, 5, 15 min) at the start: {info['load average']}; at the end: {load_end}. "
        "The machine's 2 cores are shared with the load generator, PostgreSQL and other work, so figures "
        "drift from run to run: compare each with its floor, measured in the same session",
        f"- **Runs:** {runs} of each scenario, interleaved; each figure is the median, with the min and max",
        "",
        "## Summary",
        "",
        "| scenario | figure | median | min | max | target | met |",
        "| --- | --- | ---: | ---: | ---: | --- | :---: |",
    ]
    for sc in scenarios:
        rs = results.get(sc.name) or []
        if not rs:
            continue
        keys = [t.key for t in sc.targets] or ["requests_per_s"]
        for key in keys:
            fig = next((f for f in sc.figures if f.key == key), None)
            med, lo, hi = figure_spread(rs, key)
            target = next((t for t in sc.targets if t.key == key), None)
            label = fig.label if fig else key
            unit = fig.unit if fig else ""
            digits = fig.digits if fig else 1
            shown = label if unit in ("", "/s") else f"{label} ({unit})"
            lines.append(f"| {sc.name} | {shown} | {_fmt(med, digits)} | {_fmt(lo, digits)} | "
                         f"{_fmt(hi, digits)} | {target.text if target else ''} | "
                         f"{('yes' if target.met(med) else '**no**') if target else ''} |")
        ratio = floor_ratio(sc, rs, results)
        if ratio is not None:
            lines.append(f"| {sc.name} | requests/s ÷ {sc.floor} | {ratio:.0%} | | | | |")
        if not sc.is_floor:
            ok = all(r.ok for r in rs)
            lines.append(f"| {sc.name} | correctness checks | {'all held' if ok else '**failed**'} in "
                         f"{sum(r.ok for r in rs)} of {len(rs)} runs | | | every check in every run | "
                         f"{'yes' if ok else '**no**'} |")
    skipped = [sc for sc in scenarios if sc.skipped]
    for sc in skipped:
        lines.append(f"| {sc.name} | not run | {sc.skipped} | | | | |")

    for sc in scenarios:
        rs = results.get(sc.name) or []
        if not rs:
            continue
        lines += ["", f"## {sc.title or sc.name}", ""]
        if sc.describe():
            lines += [sc.describe(), ""]
        lines += ["| figure | median | min | max | runs |", "| --- | ---: | ---: | ---: | --- |"]
        for fig in sc.figures:
            values = [r.figures.get(fig.key, float("nan")) for r in rs]
            med, lo, hi = stats.spread(values)
            unit = f" {fig.unit}" if fig.unit and fig.unit != "/s" else ""
            lines.append(f"| {fig.label} | {_fmt(med, fig.digits)}{unit} | "
                         f"{_fmt(lo, fig.digits)} | {_fmt(hi, fig.digits)} | "
                         f"{', '.join(_fmt(v, fig.digits) for v in values)} |")
        ratio = floor_ratio(sc, rs, results)
        if ratio is not None:
            lines.append(f"| requests/s ÷ {sc.floor} requests/s | {ratio:.0%} | | | |")
        lines.append("")
        for i, r in enumerate(rs, start=1):
            checks = "; ".join(f"{'✓' if c.ok else '✗'} {c.name}" + (f" ({c.detail})" if c.detail else "")
                               for c in r.checks)
            counts = ", ".join(f"{k}: {v}" for k, v in r.counts.items())
            lines.append(f"- run {i}: {checks}. Answers: {counts}." + (f" {' '.join(r.notes)}." if r.notes else ""))
    changes = Path(__file__).with_name("CHANGES.md")
    if changes.exists():
        lines += ["", changes.read_text().strip()]
    lines += ["", "How the figures are made, the gunicorn setting and the profile of the registration path: "
              "bench/README.md.", ""]
    return "\n".join(lines)
