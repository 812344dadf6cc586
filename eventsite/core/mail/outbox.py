"""enqueue_email(): write a message into the outbox inside the caller's transaction."""
from __future__ import annotations

import base64
import functools
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import select

from eventsite.core.db import insert_unnest, utcnow
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
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


# An address the email parser takes as it is: a dot-atom local part (RFC 5322 atext) and a domain of
# letters, digits and hyphens, dot-separated. Anything else (quotes, comments, non-ASCII ...) is parsed.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDR_SPEC = re.compile(
    rf"(?P<user>{_ATEXT}(?:\.{_ATEXT})*)@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)\Z")


def mailbox(name: str | None, email: str) -> Address:
    """The mailbox `format_address(name, email)` formats, checked as the outbox checks a `to` (one
    address with a user and a domain): ValueError when it cannot be used. Bulk queueing
    (`enqueue_deferred_many`) takes it as `to` without formatting and parsing it again, which is most of
    the cost of queueing a small row."""
    display_name, addr_spec = header_safe(name or ""), header_safe(email)
    plain = _PLAIN_ADDR_SPEC.match(addr_spec)
    if plain:  # what the parser would make of it, without running the parser (70-80 µs an address)
        return Address(display_name=display_name, username=plain["user"], domain=plain["domain"])
    try:
        address = Address(display_name=display_name, addr_spec=addr_spec)
    except (ValueError, IndexError, HeaderParseError) as e:
        raise ValueError(f"enqueue_email: unusable recipient {email!r}: {e}") from e
    if not address.username or not address.domain:
        raise ValueError(f"enqueue_email: unusable recipient {email!r}")
    return address


def checked_recipient(to: str | Address) -> str:
    """`to` in canonical form, checked (ValueError): a string is parsed (`_one_recipient`); a
    `mailbox()` is only formatted, unless it holds something a parse would change."""
    if isinstance(to, Address):
        plain = header_safe(to.display_name) == to.display_name and header_safe(to.addr_spec) == to.addr_spec
        if plain and "=?" not in to.display_name and to.username and to.domain:
            return str(to)
        to = str(to)
    return _one_recipient(to)


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
    return _domain_of(current_app.config.get("EVENTSITE_MAIL_FROM") or "")


@functools.lru_cache(maxsize=16)
def _domain_of(sender: str) -> str:
    """The domain of EVENTSITE_MAIL_FROM (parsed once per value: every queued email needs it)."""
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


@dataclass(frozen=True)
class QueuedEmail:
    """One email for `enqueue_emails`: the same fields as `enqueue_email`'s arguments."""

    key: str
    to: str
    subject: str
    text: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: dict[str, str] | None = None


ENQUEUE_BATCH = 500


def enqueue_emails(emails: Iterable[QueuedEmail], *, batch: int = ENQUEUE_BATCH) -> list[str]:
    """Queue many emails in the current session (not committed here), idempotent by key like
    `enqueue_email`: a key that exists already (or comes twice) keeps its first message unchanged.

    One `INSERT ... ON CONFLICT (key) DO NOTHING RETURNING key` per `batch` messages (PostgreSQL and
    SQLite alike) instead of a lookup and a flush per message: for jobs that queue thousands (the
    follow-up plan). Every message is checked exactly as `enqueue_email` checks it (ValueError for
    a bad recipient or header). Returns the keys that were queued now, in the order given.
    """
    domain = _message_id_domain()
    queued: list[str] = []
    rows: list[dict] = []
    for email in emails:
        rows.append(_row(email, domain))
        if len(rows) >= batch:
            queued += _insert_new(rows)
            rows = []
    if rows:
        queued += _insert_new(rows)
    return queued


def _row(email: QueuedEmail, domain: str) -> dict:
    extra = {}
    for name, value in (email.headers or {}).items():
        if not valid_header_name(name) or name.lower() in RESERVED_HEADERS:
            raise ValueError(f"enqueue_email: {name!r} cannot be used as an extra header")
        extra[name] = header_safe(value)
    now = utcnow()
    return {
        "key": email.key,
        "message_id": f"<{secrets.token_hex(16)}@{domain}>",
        "to_addr": _one_recipient(email.to),
        "subject": header_safe(email.subject)[:300],
        "text_body": email.text,
        "html_body": email.html,
        "attachments": [a.to_json() for a in email.attachments],
        "headers": extra,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _insert_new(rows: list[dict]) -> list[str]:
    order = {row["key"]: n for n, row in reversed(list(enumerate(rows)))}  # first of a repeated key wins
    unique = [rows[n] for n in sorted(order.values())]
    if db.session.get_bind().dialect.name == "postgresql":
        inserted = set(insert_unnest(db.session.connection(), OutboxMessage.__table__, unique,
                                     tail="ON CONFLICT (key) DO NOTHING RETURNING key").scalars())
        return [row["key"] for row in unique if row["key"] in inserted]
    from sqlalchemy.dialects.sqlite import insert

    # Core on the table with the rows as parameters: one statement compiled once (cached), sent by
    # SQLAlchemy's "insertmanyvalues" as multi-row INSERTs with RETURNING (SQLite parses them in C).
    table = OutboxMessage.__table__
    statement = insert(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.key)
    inserted = set(db.session.connection().execute(statement, unique).scalars())
    return [row["key"] for row in unique if row["key"] in inserted]
