"""Health check: the database, and the outbox backlog (is the mail worker keeping up?)."""
from datetime import datetime

from flask import Blueprint, jsonify
from sqlalchemy import func, select, text

from eventsite.core.db import utcnow
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.extensions import db

bp = Blueprint("core", __name__)

# Counting stops here, so that a huge backlog cannot make the health check slow.
BACKLOG_COUNT_CAP = 10_000


def outbox_backlog(now: datetime) -> dict:
    """Due unsent emails and how long the longest-waiting one has been due (0 when none).

    Both read only the index on (status, next_attempt_at): a range scan for the count (capped at
    BACKLOG_COUNT_CAP) and its first entry for the oldest.
    """
    count_due, oldest_due = backlog_queries(now)
    count = db.session.scalar(count_due) or 0
    oldest = db.session.scalar(oldest_due)
    age = max(0, int((now - oldest).total_seconds())) if oldest is not None else 0
    return {"due": count, "due_capped": count >= BACKLOG_COUNT_CAP, "oldest_due_seconds": age}


def backlog_queries(now: datetime):
    """(count of due unsent emails, capped; the earliest due time among them)."""
    due = (OutboxMessage.status == OutboxStatus.PENDING) & (OutboxMessage.next_attempt_at <= now)
    capped = select(OutboxMessage.next_attempt_at).where(due).limit(BACKLOG_COUNT_CAP).subquery()
    return select(func.count()).select_from(capped), select(func.min(OutboxMessage.next_attempt_at)).where(due)


@bp.get("/healthz")
def healthz():
    body: dict = {}
    try:
        db.session.execute(text("SELECT 1"))
        body["database"] = "ok"
        body["outbox"] = outbox_backlog(utcnow())
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        db.session.rollback()
        body["database"] = "unavailable"
    status = "ok" if body["database"] == "ok" else "error"
    return jsonify({"status": status, **body}), (200 if status == "ok" else 503)
