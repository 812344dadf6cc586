"""The benchmark command: `python -m bench` (or `python bench/run.py`, or `make bench`).

    .venv/bin/python -m bench                          # floors, rushes, check-in; 3 runs; bench/RESULTS.md
    .venv/bin/python -m bench registration_rush --rush 50x1000 --runs 5
    .venv/bin/python -m bench --tune                   # gunicorn workers x threads, once each
    .venv/bin/python -m bench --help

Exit status: 0 when every correctness check held in every run (a missed performance target is
reported, not an error, unless --strict), 1 otherwise, 2 when the benchmark could not run, 130 on
Ctrl-C. Everything it started is stopped and its database dropped in every case.
"""
from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, scenarios  # noqa: E402
from bench.harness import DEFAULT_THREADS, DEFAULT_WORKERS, ROOT, BenchEnvironment, BenchError, machine_info  # noqa: E402
from bench.scenarios import RunResult, Scenario  # noqa: E402

DEFAULT_GRID = "2x2,2x4,2x8,3x2,3x4,3x8,4x2,4x4,4x8"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help=f"which to run, of: {', '.join(scenarios.MODULES)} (default: all; floors always "
                             "run unless --no-floors)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each scenario (default 3)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help=f"gunicorn workers (default {DEFAULT_WORKERS})")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"threads per gunicorn worker (default {DEFAULT_THREADS})")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.md",
                        help="where to write the report (default bench/RESULTS.md)")
    parser.add_argument("--no-write", action="store_true", help="print the report, do not write it")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a performance target is missed too")
    parser.add_argument("--profile", action="store_true",
                        help="sample the gunicorn workers with py-spy during the measured runs (bench extra); "
                             "collapsed stacks in bench/out/, summarised by `python -m bench.profile FILE`")
    parser.add_argument("--tune", nargs="?", const=DEFAULT_GRID, metavar="WxT,...",
                        help="run the scenarios once per gunicorn setting (workers x threads) and print a "
                             f"table instead of the report (default grid: {DEFAULT_GRID})")
    scenarios.add_arguments(parser)
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in scenarios.MODULES]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(scenarios.MODULES)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def one_line(sc: Scenario, r: RunResult) -> str:
    keys = [t.key for t in sc.targets] or ["requests_per_s"]
    parts = []
    for key in keys:
        fig = next((f for f in sc.figures if f.key == key), None)
        value = r.figures.get(key, float("nan"))
        parts.append(f"{fig.label if fig else key} {value:,.{fig.digits if fig else 1}f}{'' if not fig or fig.unit == '/s' else ' ' + fig.unit}")
    failed = [c.name for c in r.checks if not c.ok]
    return ", ".join(parts) + ("; checks ok" if not failed else f"; FAILED: {'; '.join(failed)}")


def run_scenarios(env: BenchEnvironment, chosen: list[Scenario], runs: int, *,
                  profile: Path | None = None, timings: dict[str, float] | None = None) -> dict[str, list[RunResult]]:
    """Warm-ups, then `runs` rounds of every scenario in turn (so drift hits all alike). `timings`,
    when given, gets each scenario's wall time (set-up, warm-up, seeding, runs and checks): issue 7
    wants the whole of `make bench` under 10 minutes, and this says where they go."""
    timings = {} if timings is None else timings
    results: dict[str, list[RunResult]] = {sc.name: [] for sc in chosen}
    for sc in chosen:
        t0 = time.monotonic()
        sc.setup(env)
        spec = sc.warmup(env)
        if spec is not None:
            log(f"warm-up for {sc.name}")
            sc.run(env, spec)
        timings[sc.name] = timings.get(sc.name, 0.0) + time.monotonic() - t0
    with env.profiling(profile) if profile else contextlib.nullcontext():
        _rounds(env, chosen, runs, results, timings)
    log("wall time per scenario: " + report.timings_text(timings))
    return results


def _rounds(env: BenchEnvironment, chosen: list[Scenario], runs: int, results: dict[str, list[RunResult]],
            timings: dict[str, float]) -> None:
    for run in range(1, runs + 1):
        for sc in chosen:
            t0 = time.monotonic()
            spec = sc.prepare(env, run)
            outcome = sc.run(env, spec)
            result = sc.evaluate(env, spec, outcome)
            took = time.monotonic() - t0
            timings[sc.name] = timings.get(sc.name, 0.0) + took
            results[sc.name].append(result)
            log(f"[run {run}/{runs}] {sc.name} ({took:.0f} s): {one_line(sc, result)}")


def tune(env: BenchEnvironment, chosen: list[Scenario], grid: str) -> str:
    settings = []
    for item in grid.split(","):
        w, _, t = item.strip().partition("x")
        settings.append((int(w), int(t)))
    header = ["workers x threads"]
    for sc in chosen:
        keys = [t.key for t in sc.targets] or ["requests_per_s"]
        for key in keys:
            fig = next((f for f in sc.figures if f.key == key), None)
            header.append(f"{sc.name}: {fig.label if fig else key}")
    rows = []
    for w, t in settings:
        env.restart_server(workers=w, threads=t)
        env.shared.pop("registration_warm", None)
        results = run_scenarios(env, chosen, 1)
        row = [f"{w} x {t}"]
        for sc in chosen:
            r = results[sc.name][0]
            for key in [t.key for t in sc.targets] or ["requests_per_s"]:
                fig = next((f for f in sc.figures if f.key == key), None)
                ok = "" if r.ok else " (checks failed)"
                row.append(f"{r.figures.get(key, float('nan')):,.{fig.digits if fig else 1}f}{ok}")
        rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m bench" + ("" if not (argv or sys.argv[1:]) else " " + shlex.join(argv or sys.argv[1:]))
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    chosen = scenarios.build(args, args.scenarios or None)
    for sc in chosen:
        if sc.skipped:
            log(f"{sc.name}: not run: {sc.skipped}")
    runnable = [sc for sc in chosen if not sc.skipped]
    try:
        with BenchEnvironment(workers=args.workers, threads=args.threads) as env:
            info = machine_info(env)
            log(f"machine: {info['cores']} cores, {info['memory']}, Python {info['python']}, "
                f"PostgreSQL {info['postgresql']}, load average {info['load average']}")
            if args.tune:
                table = tune(env, runnable, args.tune)
                print(table)
                return 0
            profile = ROOT / "bench" / "out" / f"profile-{started:%Y%m%d-%H%M%S}.txt" if args.profile else None
            timings: dict[str, float] = {}
            results = run_scenarios(env, runnable, args.runs, profile=profile, timings=timings)
            server = env.server.settings
        import os

        load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except KeyboardInterrupt:
        log("interrupted: everything started was stopped and the database dropped")
        return 130
    except BenchError as e:
        log(f"the benchmark could not run: {e}")
        return 2

    text = report.render(info=info, command=command, server=server, runs=args.runs, scenarios=chosen,
                         results=results, started=started, duration_s=time.monotonic() - t0, load_end=load_end,
                         timings=timings)
    print(text)
    if not args.no_write:
        args.output.write_text(text)
        log(f"written to {args.output}")
    checks_ok = all(r.ok for rs in results.values() for r in rs)
    targets_ok = all(ok for sc in runnable for _, ok in report.verdicts(sc, results[sc.name]))
    if not checks_ok:
        return 1
    return 1 if args.strict and not targets_ok else 0


if __name__ == "__main__":
    sys.exit(main())
