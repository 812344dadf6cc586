"""When the pages and the registrations of a rush were answered: where the time to the last sale goes.

    .venv/bin/python -m bench.rush_timeline [--clients 500] [--capacity 100] [--runs 2]

Starts the bench environment (bench/harness.py: PostgreSQL database, gunicorn 2 x 1, SMTP sink), runs
the registration rush of `bench.scenarios.registration_rush` without its burst floor, and prints for
each run: how fast the clients' first pages were sent, when the 100th, the half and the CLIENTS-th
page answers arrived, when the first, the middle and the last registrations were answered, and how
many pages and POSTs were answered before the last sale. Nothing is written.
"""
from __future__ import annotations

import argparse
import statistics
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)

    from bench.harness import BenchEnvironment
    from bench.scenarios.registration_rush import RegistrationRush

    with BenchEnvironment(verbose=False) as env:
        rush = RegistrationRush(args.clients, args.capacity)
        warm = rush.warmup(env)
        if warm:
            rush.run(env, warm)
        for run in range(1, args.runs + 1):
            spec = dict(rush.prepare(env, run), burst=False)
            samples = env.run_load(spec)["samples"]
            pages = sorted(s[2] + s[3] for s in samples if s[0] == "page")
            sent = sorted(s[2] for s in samples if s[0] == "page")
            posts = sorted((s[2] + s[3], s[1]) for s in samples if s[0] == "register")
            sales = [t for t, status in posts if status == 303]
            if len(sales) < args.capacity or len(pages) < args.clients:
                print(f"run {run}: {len(sales)} registrations, {len(pages)} pages: not a full rush", file=sys.stderr)
                return 1
            last = sales[args.capacity - 1]
            n, half = args.clients, args.clients // 2
            print(f"run {run}: first pages sent within {sent[n - 1]:.3f} s")
            print(f"  pages answered: 100th {pages[min(99, n - 1)]:.3f} s, {half}th {pages[half - 1]:.3f} s, "
                  f"{n}th {pages[n - 1]:.3f} s")
            print(f"  registrations answered: first {sales[0]:.3f} s, {len(sales) // 2}th "
                  f"{sales[len(sales) // 2 - 1]:.3f} s, last {last:.3f} s")
            print(f"  answered before the last sale: {sum(t <= last for t in pages)} pages, "
                  f"{sum(t <= last for t, _ in posts)} POSTs; registration POST latency p50 "
                  f"{statistics.median(s[3] for s in samples if s[0] == 'register' and s[1] == 303):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
