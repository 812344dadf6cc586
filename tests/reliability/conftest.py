"""Fixtures for the reliability tests: the real worker process, started and killed like an operator's
supervisor would, and SMTP servers of our own (a slow one)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import select

from eventsite.core.mail import enqueue_email
from eventsite.core.mail.models import OutboxMessage
from eventsite.extensions import db


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def queue_emails(app, n: int, prefix: str = "crash") -> None:
    """`n` emails to p0@example.org ... in one transaction."""
    with app.app_context():
        for i in range(n):
            enqueue_email(key=f"{prefix}:{i}", to=f"p{i}@example.org", subject=f"Message {i}", text=f"Hello {i}")
        db.session.commit()


def received(mailbox) -> list:
    """A snapshot of what the suite's SMTP server has received so far."""
    with mailbox.lock:
        return list(mailbox.messages)


def outbox_rows(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        db.session.expunge_all()
        db.session.remove()
        return rows


@dataclass
class WorkerProcess:
    """`flask --app eventsite worker` as a child process; its output goes to a file."""

    proc: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def start_worker(app, tmp_path):
    """Start the real worker against the test database: `start_worker(mail_url, lease=2, poll=0.1)`."""
    started: list[WorkerProcess] = []

    def start(mail_url: str, *, lease: float = 2.0, poll: float = 0.1, batch: int = 100) -> WorkerProcess:
        env = worker_environment(app, mail_url, lease=lease, poll=poll)
        log_path = tmp_path / f"worker-{len(started)}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "eventsite", "worker", "--batch", str(batch)],
                                    env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        worker = WorkerProcess(proc, log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.alive():
            worker.kill()


def worker_environment(app, mail_url: str, *, lease: float, poll: float) -> dict:
    """The environment an operator would give the worker: the test database and mail server."""
    return dict(
        os.environ,
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        EVENTSITE_MAIL_URL=mail_url,
        EVENTSITE_INSTANCE_PATH=app.instance_path,
        EVENTSITE_ENV="development",
        EVENTSITE_OUTBOX_LEASE_SECONDS=str(lease),
        EVENTSITE_WORKER_POLL_SECONDS=str(poll),
        PYTHONUNBUFFERED="1",
    )


# A launcher process that imports the app once, then forks one worker process per line it reads
# (the line names the worker's log file) and answers with the worker's pid. Each worker runs Flask's
# command line exactly as `flask --app eventsite worker ...` does; only the imports are shared, as
# with gunicorn --preload, so that twenty restarts cost milliseconds instead of twenty start-ups.
LAUNCHER = """
import os, signal, sys
import eventsite
eventsite.create_app()  # imports every module; makes no database connection
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped at once when they die
args = sys.argv[1:]
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        out = os.open(line.strip(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        from flask.cli import main
        sys.argv = args
        code = 1
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(pid, flush=True)
"""


@dataclass
class ForkedWorker:
    """A worker process forked by the launcher (not our child: we watch it by its pid)."""

    pid: int
    log_path: Path

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        assert wait_until(lambda: not self.alive(), timeout=10), f"worker {self.pid} outlived SIGKILL"


@pytest.fixture
def fork_worker(app, tmp_path):
    """`fork_worker(mail_url, lease=2, batch=100)` starts a worker at once from a pre-loaded launcher."""
    launchers: dict[tuple, subprocess.Popen] = {}
    forked: list[ForkedWorker] = []

    def fork(mail_url: str, *, lease: float = 2.0, poll: float = 0.1, batch: int = 100) -> ForkedWorker:
        key = (mail_url, lease, poll, batch)
        if key not in launchers:
            launchers[key] = subprocess.Popen(
                [sys.executable, "-c", LAUNCHER, "flask", "--app", "eventsite", "worker", "--batch", str(batch)],
                env=worker_environment(app, mail_url, lease=lease, poll=poll),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
        launcher = launchers[key]
        log_path = tmp_path / f"forked-{len(forked)}.log"
        launcher.stdin.write(f"{log_path}\n")
        launcher.stdin.flush()
        worker = ForkedWorker(int(launcher.stdout.readline()), log_path)
        forked.append(worker)
        return worker

    yield fork
    for worker in forked:
        if worker.alive():
            worker.kill()
    for launcher in launchers.values():
        launcher.stdin.close()
        launcher.wait(timeout=10)


@dataclass
class SlowSink:
    url: str
    messages: list[bytes]
    entered: threading.Event  # set when a DATA command is being handled


@pytest.fixture
def slow_smtp():
    """An SMTP server that takes 1.5 s to accept each message."""
    import asyncio

    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    messages: list[bytes] = []
    entered = threading.Event()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            entered.set()
            await asyncio.sleep(1.5)
            messages.append(envelope.original_content or envelope.content)
            return "250 Message accepted for delivery"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield SlowSink(f"smtp://127.0.0.1:{port}", messages, entered)
    controller.stop()
