"""enqueue_email(): write a message into the outbox inside the caller's transaction."""
from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from eventsite.core.mail.models import OutboxMessage
from eventsite.extensions import db

_HEADER_UNSAFE = re.compile(r"[\r\n\x00-\x1f\x7f]")


def header_safe(value: str) -> str:
    """Collapse control characters (CR/LF included) so nothing can be injected into a header."""
    return _HEADER_UNSAFE.sub(" ", value).strip()


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    inline_cid: str | None = None  # set for images referenced from the HTML as cid:<inline_cid>

    def to_json(self) -> dict:
        return {
            "filename": header_safe(self.filename),
            "content_type": self.content_type,
            "data": base64.b64encode(self.data).decode("ascii"),
            "inline_cid": self.inline_cid,
        }


def enqueue_email(
    *,
    key: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: list[Attachment] | tuple[Attachment, ...] = (),
    headers: dict[str, str] | None = None,
) -> OutboxMessage:
    """Queue one email in the current session (not committed here: the caller commits once).

    Idempotent by `key`: if a message with that key already exists it is returned unchanged, so a
    retried request or a re-run job never queues the same email twice.
    """
    existing = db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
    if existing is not None:
        return existing
    domain = current_app.config.get("EVENTSITE_MESSAGE_ID_DOMAIN") or "eventsite.local"
    message = OutboxMessage(
        key=key,
        message_id=f"<{secrets.token_hex(16)}@{domain}>",
        to_addr=header_safe(to),
        subject=header_safe(subject)[:300],
        text_body=text,
        html_body=html,
        attachments=[a.to_json() for a in attachments],
        headers={header_safe(k): header_safe(v) for k, v in (headers or {}).items()},
    )
    db.session.add(message)
    db.session.flush()
    return message
