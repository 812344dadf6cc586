"""Build the MIME message for one outbox row.

Structure, depending on what the row has:

    multipart/mixed                      (only when there are regular attachments)
      multipart/alternative              (only when there is an HTML part)
        text/plain
        multipart/related                (only when there are inline images)
          text/html
          image/png  Content-ID: <cid>   (referenced from the HTML as cid:<cid>)
      text/calendar; name=event.ics ...  (attachments)

Every header value passes through header_safe() and the email package's own check (policy.SMTP
refuses CR/LF in a header value), so a name or subject can never start a header of its own.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import re
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from eventsite.core.mail.models import OutboxMessage
from eventsite.core.mail.outbox import RESERVED_HEADERS, header_safe, valid_header_name

log = logging.getLogger(__name__)

_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")


@dataclass(frozen=True)
class Envelope:
    """What the SMTP transaction needs besides the message itself."""

    from_addr: str
    to_addrs: list[str]


def _text_cte(text: str) -> str | None:
    # 8bit needs the server's 8BITMIME; quoted-printable is safe everywhere and still readable.
    return None if text.isascii() else "quoted-printable"


def _split_type(content_type: str) -> tuple[str, str]:
    content_type = (content_type or "").strip().lower()
    if not _CONTENT_TYPE.match(content_type):
        return "application", "octet-stream"
    maintype, subtype = content_type.split("/", 1)
    return maintype, subtype


def _add_part(target: EmailMessage, method: str, data: bytes, content_type: str, **kwargs) -> None:
    maintype, subtype = _split_type(content_type)
    if maintype == "text":
        # Text attachments (.ics, .csv) keep their bytes exactly (base64), labelled UTF-8.
        kwargs["params"] = {"charset": "utf-8"}
    getattr(target, method)(data, maintype, subtype, **kwargs)


def build_message(row: OutboxMessage, *, sender: str) -> tuple[EmailMessage, Envelope]:
    """The message exactly as it goes out, identical on every attempt (same Message-ID and Date)."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = header_safe(sender)
    msg["To"] = header_safe(row.to_addr)
    msg["Subject"] = header_safe(row.subject)
    msg["Date"] = format_datetime(row.created_at, usegmt=True)
    msg["Message-ID"] = header_safe(row.message_id)
    for name, value in (row.headers or {}).items():
        name = header_safe(str(name))
        if not valid_header_name(name) or name.lower() in RESERVED_HEADERS:
            log.warning("outbox %s: skipping header %r (not a valid extra header)", row.key, name)
            continue
        msg[name] = header_safe(str(value))

    text = row.text_body or ""
    msg.set_content(text, cte=_text_cte(text))

    inline, regular = [], []
    for item in row.attachments or []:
        (inline if item.get("inline_cid") else regular).append(item)

    if row.html_body:
        html = row.html_body
        msg.add_alternative(html, subtype="html", cte=_text_cte(html))
        html_part = msg.get_payload()[-1]
        for item in inline:
            cid = header_safe(str(item["inline_cid"])).strip("<>")
            _add_part(
                html_part, "add_related", base64.b64decode(item["data"]), item.get("content_type", ""),
                cid=f"<{cid}>", filename=header_safe(item.get("filename") or cid), disposition="inline",
            )
    else:
        regular = inline + regular  # no HTML to show them in: send them as ordinary attachments

    for item in regular:
        _add_part(
            msg, "add_attachment", base64.b64decode(item["data"]), item.get("content_type", ""),
            filename=header_safe(item.get("filename") or "attachment"),
        )

    # Boundaries derived from the Message-ID: every attempt sends exactly the same bytes. "=_" cannot
    # occur in quoted-printable or base64 content.
    seed = hashlib.sha256(row.message_id.encode("utf-8")).hexdigest()[:24]
    for n, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_{seed}_{n}")

    from_header = msg["From"]
    senders = from_header.addresses
    if len(senders) != 1 or not senders[0].domain:
        raise ValueError(f"EVENTSITE_MAIL_FROM is not one address: {sender!r}")
    recipients = [a.addr_spec for a in msg["To"].addresses if a.username and a.domain]
    if not recipients:
        raise ValueError("the message has no valid recipient")
    return msg, Envelope(from_addr=senders[0].addr_spec, to_addrs=recipients)


def sender_address(sender: str) -> Address:
    """EVENTSITE_MAIL_FROM parsed (used for the Message-ID domain)."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = header_safe(sender)
    return msg["From"].addresses[0]
