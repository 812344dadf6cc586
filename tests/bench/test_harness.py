"""The harness itself on PostgreSQL: its own database, gunicorn serving the bench app, a small rush
and the floors through it, and everything stopped and dropped afterwards, also after an error."""
from __future__ import annotations

import os
import time

import psycopg
import pytest

from bench.harness import BenchEnvironment, _processes
from bench.scenarios.floors import Floor
from bench.scenarios.registration_rush import RegistrationRush
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.postgres_only


def _database_exists(name: str) -> bool:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and "Z" not in _state(p)]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0]
    except OSError:
        return "Z"


def _server_pids(env: BenchEnvironment) -> list[int]:
    master = env.server.proc.pid
    return [pid for pid, ppid, _ in _processes() if pid == master or ppid == master]


def test_gunicorn_rush_and_floors_then_everything_is_cleaned_up():
    with BenchEnvironment(workers=2, threads=2, verbose=False, admin_url=POSTGRES_ADMIN_URL) as env:
        name = env.db.name
        assert name.startswith("eventsite_bench_") and _database_exists(name)
        pids = _server_pids(env)
        assert len(pids) == 3  # the master and two workers

        rush = RegistrationRush(8, 5, time_limit=60)
        spec = rush.prepare(env, 1)
        result = rush.evaluate(env, spec, env.run_load(spec))
        assert [f"{c.name}: {c.detail}" for c in result.checks if not c.ok] == []
        assert result.figures["app_cpu_ms"] > 0  # CPU accounted to gunicorn's processes

        floor = Floor("select1", "/_bench/select1", "1", clients=4, seconds=0.5)
        floor_result = floor.evaluate(env, floor.prepare(env, 1), env.run_load(floor.prepare(env, 1)))
        assert floor_result.ok and floor_result.counts["GET 200"] > 10

    assert not _database_exists(name)
    assert _gone(pids)
    assert not env.tmp.exists()


def test_an_error_inside_stops_gunicorn_and_drops_the_database():
    with pytest.raises(RuntimeError, match="boom"):
        with BenchEnvironment(workers=1, threads=1, verbose=False, admin_url=POSTGRES_ADMIN_URL) as env:
            name, pids = env.db.name, _server_pids(env)
            raise RuntimeError("boom")
    assert not _database_exists(name)
    assert _gone(pids)


def _bench_databases() -> set[str]:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'eventsite_bench_%'")}


def _processes_using(database: str) -> list[int]:
    pids = []
    for pid, _, _ in _processes():
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if f"/{database}".encode() in fh.read():
                    pids.append(pid)
        except OSError:
            pass
    return pids


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_during_a_run_cleans_up(signal_name):
    """`python -m bench` interrupted while the load runs: exit 130, gunicorn and the load generator
    stopped, the database dropped."""
    import signal
    import subprocess
    import sys
    import threading

    from bench.harness import ROOT

    before = _bench_databases()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "registration_rush", "--rush", "20x100000", "--runs", "1", "--no-write",
         "--no-floors", "--workers", "1", "--threads", "2"],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env=dict(os.environ, EVENTSITE_BENCH_POSTGRES_URL=POSTGRES_ADMIN_URL),
    )
    lines: list[str] = []
    running = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("warm-up"):
                running.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert running.wait(60), "".join(lines)
        time.sleep(1.0)  # into the measured run
        [database] = _bench_databases() - before
        server = _processes_using(database)
        assert server, "gunicorn should be running on the bench database"
        proc.send_signal(getattr(signal, signal_name))
        assert proc.wait(60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert database not in _bench_databases()
    assert _gone(server)
    assert _processes_using(database) == []
    assert any("interrupted" in line for line in lines)
