"""enqueue_email(): write a message into the outbox inside the caller's transaction."""
from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import select

from eventsite.core.mail.models import OutboxMessage
from eventsite.extensions import db

_HEADER_UNSAFE = re.compile(r"[\r\n\x00-\x1f\x7f]+")
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # RFC 5322 field name: printable ASCII except ':'

# Headers the message builder sets itself; extra headers may not replace them.
RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "sender",
     "mime-version", "content-type", "content-transfer-encoding", "content-disposition", "return-path"}
)


def header_safe(value: str) -> str:
    """Collapse control characters (CR/LF included) so nothing can be injected into a header."""
    return _HEADER_UNSAFE.sub(" ", value).strip()


def valid_header_name(name: str) -> bool:
    return bool(_HEADER_NAME.match(name))


def format_address(name: str | None, email: str) -> str:
    """`"Dana O'Neil, PhD" <dana@example.org>`: a display name quoted so that commas, quotes and
    line breaks in a person's name can never split or extend the header. Use it for `to=`."""
    address = Address(display_name=header_safe(name or ""), addr_spec=header_safe(email))
    return str(address)


def _one_recipient(to: str) -> str:
    """The `to` argument checked: exactly one mailbox with a domain, returned in canonical form."""
    msg = EmailMessage(policy=policy.SMTP)
    try:
        msg["To"] = header_safe(to)
        header = msg["To"]
        addresses = header.addresses
    except (ValueError, IndexError) as e:
        raise ValueError(f"enqueue_email: unusable recipient {to!r}") from e
    if (
        len(addresses) != 1
        or header.defects
        or header.groups[0].display_name is not None
        or not addresses[0].username
        or not addresses[0].domain
    ):
        raise ValueError(
            f"enqueue_email: 'to' must be exactly one address, got {to!r}; "
            "build 'Name <addr>' with format_address(name, email)"
        )
    return str(addresses[0])


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    # Set for images shown inside the HTML: the HTML references them as src="cid:<inline_cid>"
    # (without angle brackets, e.g. inline_cid="qr-12@eventsite"). Left unset: a regular attachment.
    inline_cid: str | None = None

    def to_json(self) -> dict:
        return {
            "filename": header_safe(self.filename),
            "content_type": self.content_type,
            "data": base64.b64encode(self.data).decode("ascii"),
            "inline_cid": header_safe(self.inline_cid).strip("<>") if self.inline_cid else None,
        }


def _message_id_domain() -> str:
    configured = current_app.config.get("EVENTSITE_MESSAGE_ID_DOMAIN")
    if configured:
        return configured
    sender = current_app.config.get("EVENTSITE_MAIL_FROM") or ""
    try:
        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = header_safe(sender)
        domain = msg["From"].addresses[0].domain
    except (ValueError, IndexError):
        domain = ""
    return domain or "eventsite.local"


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

    `to` is one address, plain (`dana@example.org`) or with a name; build the latter with
    `format_address(name, email)` so that any name is quoted safely. `headers` are extra headers
    (e.g. `List-Unsubscribe`); they may not replace From, To, Subject, Date, Message-ID or MIME
    headers. Programming mistakes (several recipients, a bad header name) raise ValueError.
    """
    existing = db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
    if existing is not None:
        return existing
    extra = {}
    for name, value in (headers or {}).items():
        if not valid_header_name(name) or name.lower() in RESERVED_HEADERS:
            raise ValueError(f"enqueue_email: {name!r} cannot be used as an extra header")
        extra[name] = header_safe(value)
    message = OutboxMessage(
        key=key,
        message_id=f"<{secrets.token_hex(16)}@{_message_id_domain()}>",
        to_addr=_one_recipient(to),
        subject=header_safe(subject)[:300],
        text_body=text,
        html_body=html,
        attachments=[a.to_json() for a in attachments],
        headers=extra,
    )
    db.session.add(message)
    db.session.flush()
    return message
