"""Periodic tasks run by the worker: a tiny registry that higher domains add to.

A domain registers a job once, at import time of its own module, for example in
`eventsite/registration/tasks.py`:

    from eventsite.core.tasks import register_task

    def release_expired_holds(now: datetime) -> int:
        ...  # flush, do not commit; return how many things were done (or None)

    register_task("registration.release_expired_holds", release_expired_holds)

`run_due_tasks(now)` (called by `flask worker` on every poll, and by `worker --once`) calls each job
with the current time, each in its own transaction: committed when it returns, rolled back and
logged when it raises, and the next job runs either way. Several worker processes may run the same
job at the same time, so a job must be safe to run concurrently and again (claim with conditional
UPDATEs, queue email with a unique outbox key), and it decides itself what is due.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from eventsite.core.db import utcnow
from eventsite.extensions import db

log = logging.getLogger(__name__)

Task = Callable[[datetime], Any]

_tasks: dict[str, Task] = {}


def register_task(name: str, fn: Task | None = None):
    """Register `fn(now)` under `name` (registering a name again replaces it: imports are repeatable).

    Also usable as a decorator: `@register_task("connections.send_follow_ups")`.
    """
    if fn is None:
        def decorator(f: Task) -> Task:
            register_task(name, f)
            return f

        return decorator
    if not callable(fn):
        raise TypeError(f"task {name!r} is not callable")
    _tasks[name] = fn
    return fn


def unregister_task(name: str) -> None:
    _tasks.pop(name, None)


def registered_tasks() -> dict[str, Task]:
    return dict(_tasks)


@dataclass
class TaskReport:
    ran: int = 0
    errors: list[str] = field(default_factory=list)  # names of the tasks that raised
    results: dict[str, Any] = field(default_factory=dict)


def run_due_tasks(now: datetime | None = None) -> TaskReport:
    """Call every registered task once, each in its own transaction; log and go on when one fails."""
    now = now or utcnow()
    report = TaskReport()
    for name, fn in list(_tasks.items()):
        try:
            result = fn(now)
            db.session.commit()
        except Exception:  # noqa: BLE001 - one broken job must not stop the others or the mail
            db.session.rollback()
            log.exception("task %s failed; it will run again on the next poll", name)
            report.errors.append(name)
            continue
        report.ran += 1
        report.results[name] = result
        if result:
            log.info("task %s: %s", name, result)
    return report
