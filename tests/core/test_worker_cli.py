"""`flask --app eventsite worker --once` and the long-running `worker`, as an operator runs them."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from eventsite.core import tasks
from eventsite.core.mail import enqueue_email
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.extensions import db


def queue(app, n: int) -> None:
    with app.app_context():
        for i in range(n):
            enqueue_email(key=f"cli:{i}", to=f"p{i}@example.org", subject=f"Hi {i}", text="Hello")
        db.session.commit()


def statuses(app) -> list[OutboxStatus]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)))


def test_worker_once_runs_tasks_sends_what_is_due_and_says_so(app, runner, mailbox, monkeypatch):
    queue(app, 3)

    def follow_ups(now):  # a higher domain's job that queues an email
        enqueue_email(key="follow-up:1", to="dana@example.org", subject="Keep in touch", text="Hi Dana")

    monkeypatch.setattr(tasks, "_tasks", {"test.follow_ups": follow_ups})
    result = runner.invoke(args=["worker", "--once", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "sent 4, failed 0; tasks run 1"
    assert sorted(r for m in mailbox.messages for r in m.rcpt_tos) == [
        "dana@example.org", "p0@example.org", "p1@example.org", "p2@example.org"]
    assert statuses(app) == [OutboxStatus.SENT] * 4

    again = runner.invoke(args=["worker", "--once"])
    assert again.output.strip() == "sent 0, failed 0; tasks run 1" and len(mailbox.messages) == 4


def test_worker_once_reports_failures(app, runner, monkeypatch):
    from tests.conftest import free_port

    queue(app, 2)
    monkeypatch.setitem(app.config, "EVENTSITE_MAIL_URL", f"smtp://127.0.0.1:{free_port()}")
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0
    assert result.output.strip().startswith("sent 0, failed 2")
    assert statuses(app) == [OutboxStatus.PENDING] * 2


def test_worker_refuses_an_unknown_mail_url(app, runner, monkeypatch):
    monkeypatch.setitem(app.config, "EVENTSITE_MAIL_URL", "sendgrid://key")
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 1
    assert "unknown scheme sendgrid://" in result.output


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_worker_process_sends_and_stops_cleanly_on_a_signal(app, mailbox, sig):
    import signal

    queue(app, 2)
    env = dict(
        os.environ,
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        EVENTSITE_MAIL_URL=mailbox.url,
        EVENTSITE_INSTANCE_PATH=app.instance_path,
        EVENTSITE_ENV="development",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "eventsite", "worker"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(mailbox.messages) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert len(mailbox.messages) == 2, "the worker did not send the queued mail"
        # It keeps running and picks up mail queued later.
        with app.app_context():
            enqueue_email(key="later", to="later@example.org", subject="Later", text="Later")
            db.session.commit()
        while len(mailbox.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(mailbox.to("later@example.org")) == 1
        proc.send_signal(getattr(signal, sig))
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert "worker: stopped (sent 3, failed 0)" in output
