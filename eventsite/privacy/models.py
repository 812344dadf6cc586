"""The audit log: who did what to whose data, without the data.

An entry names the actor (a user id, or none for the worker), the organization and event, an action
(`attendee.erased`, `profiles.purged`) and a subject that identifies no person (`order K7QX3M9P`: the
order's code, whose row no longer holds a name or an address), plus counts in `details`. It never
holds a name, an email address, an answer or a profile text: the log of an erasure must not undo it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from eventsite.core.db import utcnow
from eventsite.extensions import db


class AuditLogEntry(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_organization_created", "organization_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))  # None: the worker
    action: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(100), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # counts only
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<AuditLogEntry {self.id} {self.action} {self.subject}>"
