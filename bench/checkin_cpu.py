"""Door scans through the organizer API, in-process: CPU, statements and each SQL statement's wait.

    .venv/bin/python -m bench.checkin_cpu [--tickets 2000] [--profile 40]

Like bench/list_cpu.py for the `checkin` scenario: a scratch PostgreSQL database
(`bench.inprocess.scratch_app`) seeded by the scenario's own `Checkin._seed` (an event whose tickets
are issued through `register_attendees` in orders of 10, a check-in staff member assigned to it and
her API token), then, through the Flask test client with the headers and body the load generator
sends (`Authorization: Bearer`, `{"secret", "door", "request_id"}`): every ticket scanned once
(`ok`), then `--repeats` of them again (`already_checked_in`), then `--unknown` codes of nothing
(`unknown`). The first `WARMUP` tickets are scanned before the meter starts. Every answer is checked.

Prints the app's CPU and statements per scan (`Meter`, one line per expected result) and, per
statement, the median wall time the driver waited for it, slowest first. `--profile N` prints the N
top functions of the counted scans by cumulative CPU (cProfile). CPU drifts with the machine's load:
compare two trees back to back, alternately.
"""
from __future__ import annotations

import argparse
import secrets
import time
import uuid
from contextlib import contextmanager

from bench.inprocess import Meter, SeedEnv, print_waits, scratch_app, statement_waits
from bench.scenarios.checkin import ALPHABET, Checkin

WARMUP = 50


class _Env(SeedEnv):
    """What `Checkin._seed` needs of the harness: an app context that yields `db`."""

    def __init__(self, app):
        self.shared = {}
        self._app = app

    @contextmanager
    def app_context(self):
        from eventsite.extensions import db

        with self._app.app_context():
            yield db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=200, help="tickets scanned a second time")
    parser.add_argument("--unknown", type=int, default=100, help="codes of no ticket")
    parser.add_argument("--profile", type=int, default=0, help="print the N top functions by cumulative CPU")
    args = parser.parse_args(argv)
    with scratch_app() as app:
        t0 = time.monotonic()
        seeded = Checkin(1, args.tickets, 0, 0)._seed(_Env(app), args.tickets, "checkin CPU")
        print(f"{args.tickets} tickets issued in {time.monotonic() - t0:.1f} s")
        codes = seeded["codes"]
        plan = [(c, "ok") for c in codes]
        plan += [(c, "already_checked_in") for c in codes[WARMUP:WARMUP + args.repeats]]
        plan += [("".join(secrets.choice(ALPHABET) for _ in range(26)), "unknown") for _ in range(args.unknown)]
        client = app.test_client()
        path = f"/api/v1/events/{seeded['slug']}/checkins"
        headers = {"Authorization": f"Bearer {seeded['token']}"}

        def scan(code: str, n: int):
            body = {"secret": code, "door": f"Door {n % 4 + 1}", "request_id": uuid.uuid4().hex}
            return client.post(path, json=body, headers=headers)

        for n, (code, expected) in enumerate(plan[:WARMUP]):
            _check(scan(code, n), expected)
        waits = statement_waits(app)
        meter = Meter(app, profile=args.profile > 0)
        for n, (code, expected) in enumerate(plan[WARMUP:], WARMUP):
            _check(meter.time(expected, lambda code=code, n=n: scan(code, n)), expected)
        meter.report(top=args.profile)
        total = sum(meter.calls.values())
        print(f"all  {sum(meter.cpu.values()) / total * 1000:6.2f} ms CPU, "
              f"{sum(meter.sql.values()) / total:4.1f} statements (mean of {total})")
        print_waits(waits)
    return 0


def _check(response, expected: str) -> None:
    assert response.status_code == 201, (response.status_code, response.get_data(as_text=True))
    result = response.get_json()["result"]
    assert result == expected, (result, expected)


if __name__ == "__main__":
    raise SystemExit(main())
