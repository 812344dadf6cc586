"""Reading the dev mailbox: the .eml files that the dev:// backend writes (development only)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import Callable
from urllib.parse import unquote

from sqlalchemy import func, select

from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.extensions import db

# <UTC timestamp with microseconds>-<random>; anything else is not ours (and never a path).
_NAME = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")
_CID_URL = re.compile(r"""\bcid:([^"'\s<>)]+)""", re.IGNORECASE)
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class MailboxEntry:
    name: str
    to: str
    subject: str
    date: datetime | None


@dataclass(frozen=True)
class PartInfo:
    index: int
    filename: str
    content_type: str
    size: int
    inline: bool


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.glob("*.eml") if _NAME.match(p.stem)), key=lambda p: p.stem, reverse=True)


def _date(msg) -> datetime | None:
    try:
        header = msg["Date"]
        return header.datetime if header is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


def list_messages(directory: Path, *, limit: int = 200) -> tuple[list[MailboxEntry], int]:
    """The newest `limit` messages, newest first (headers only), and how many there are in all."""
    files = _files(directory)
    parser = BytesHeaderParser(policy=policy.default)
    entries = []
    for path in files[:limit]:
        try:
            with path.open("rb") as fh:
                headers = parser.parse(fh)
        except OSError:  # cleared meanwhile
            continue
        entries.append(MailboxEntry(path.stem, str(headers["To"] or ""), str(headers["Subject"] or ""), _date(headers)))
    return entries, len(files)


def read_message(directory: Path, name: str) -> EmailMessage | None:
    if not _NAME.match(name or ""):
        return None
    try:
        data = (directory / f"{name}.eml").read_bytes()
    except OSError:
        return None
    return BytesParser(policy=policy.default).parsebytes(data)


def raw_message(directory: Path, name: str) -> bytes | None:
    if not _NAME.match(name or ""):
        return None
    try:
        return (directory / f"{name}.eml").read_bytes()
    except OSError:
        return None


def clear_mailbox(directory: Path) -> int:
    removed = 0
    for path in _files(directory):
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def message_date(msg: EmailMessage) -> datetime | None:
    return _date(msg)


def text_body(msg: EmailMessage) -> str | None:
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else None


def html_body(msg: EmailMessage, cid_url: Callable[[str], str]) -> str | None:
    """The HTML part with `cid:` references pointing at `cid_url(cid)`, and links opening in a new
    tab (the sandboxed frame cannot navigate the page)."""
    part = msg.get_body(preferencelist=("html",))
    if part is None:
        return None
    html = _CID_URL.sub(lambda m: cid_url(unquote(m.group(1))), part.get_content())
    base = '<base target="_blank">'
    head = _HEAD.search(html)
    if head:
        return html[: head.end()] + base + html[head.end():]
    return base + html


def _leaves(msg: EmailMessage) -> list[EmailMessage]:
    return [p for p in msg.walk() if not p.is_multipart()]


def attachments(msg: EmailMessage) -> list[PartInfo]:
    """Every part that is not the text or HTML body: inline images and regular attachments."""
    bodies = {id(msg.get_body(preferencelist=("plain",))), id(msg.get_body(preferencelist=("html",)))}
    found = []
    for index, part in enumerate(_leaves(msg)):
        if id(part) in bodies:
            continue
        payload = part.get_payload(decode=True) or b""
        found.append(
            PartInfo(
                index=index,
                filename=part.get_filename() or f"part-{index}",
                content_type=part.get_content_type(),
                size=len(payload),
                inline=part.get("Content-ID") is not None,
            )
        )
    return found


def part_by_index(msg: EmailMessage, index: int) -> EmailMessage | None:
    leaves = _leaves(msg)
    return leaves[index] if 0 <= index < len(leaves) else None


def part_by_cid(msg: EmailMessage, cid: str) -> EmailMessage | None:
    wanted = cid.strip().strip("<>")
    for part in _leaves(msg):
        content_id = part.get("Content-ID")
        if content_id is not None and str(content_id).strip().strip("<>") == wanted:
            return part
    return None


def outbox_waiting() -> int:
    """Messages still waiting in the outbox (not yet handled by the worker)."""
    return db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)
    ) or 0
