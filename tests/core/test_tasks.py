"""The periodic-task registry: each job in its own transaction; one failing job does not stop the rest."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from eventsite.core import tasks
from eventsite.core.mail import enqueue_email
from eventsite.core.mail.models import OutboxMessage
from eventsite.extensions import db


@pytest.fixture
def registry(monkeypatch):
    """An empty registry for this test (domains' real tasks are put back afterwards)."""
    monkeypatch.setattr(tasks, "_tasks", {})
    return tasks


def keys() -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(select(OutboxMessage.key)))


def test_each_task_commits_on_its_own_and_errors_are_logged(app, ctx, registry, caplog):
    seen: list[datetime] = []

    def first(now):
        seen.append(now)
        enqueue_email(key="first", to="a@example.org", subject="First", text="1")
        return 1

    def broken(now):
        enqueue_email(key="broken", to="b@example.org", subject="Broken", text="2")
        raise RuntimeError("waitlist exploded")

    def last(now):
        enqueue_email(key="last", to="c@example.org", subject="Last", text="3")

    registry.register_task("test.first", first)
    registry.register_task("test.broken", broken)
    registry.register_task("test.last", last)

    moment = datetime(2030, 5, 1, 12, 0, tzinfo=timezone.utc)
    with caplog.at_level(logging.ERROR):
        report = registry.run_due_tasks(moment)

    assert seen == [moment]
    assert report.ran == 2 and report.errors == ["test.broken"] and report.results["test.first"] == 1
    assert keys() == ["first", "last"]  # the broken task's write was rolled back, the others kept
    assert "task test.broken failed" in caplog.text and "waitlist exploded" in caplog.text


def test_register_again_replaces_and_decorator_form(registry):
    registry.register_task("test.job", lambda now: "old")

    @registry.register_task("test.job")
    def job(now):
        return "new"

    assert list(registry.registered_tasks()) == ["test.job"]
    assert registry.registered_tasks()["test.job"] is job
    with pytest.raises(TypeError):
        registry.register_task("test.bad", "not callable")
