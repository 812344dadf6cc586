"""Emails whose content the worker makes when it sends them, not the request that queues them.

A registration must answer fast in a ticket rush, and its confirmation is the most expensive thing it
would otherwise do: a QR code per ticket as PNG, the HTML and text bodies, the calendar file (about
half of a registration's CPU time, bench/README.md). So the request queues a row that names a
*renderer* and its arguments (`enqueue_deferred`, in the request's transaction, idempotent by key like
`enqueue_email`), and the worker calls the renderer before the first attempt (`materialize`): the
content is written into the row and committed before anything is sent, so every retry sends the same
bytes under the same Message-ID, exactly as for an email queued with its content.

The content is made from the database as it is when the worker gets to it, seconds later: an attendee
renamed in between gets the new name, which is what she would want. A renderer raises `NothingToSend`
when its subject is gone (an order erased meanwhile): the row is marked failed at once with that
reason, without retries. Any other exception is an ordinary failed attempt, retried with backoff.

Renderers register by name at import time with `@renderer("domain.what")`; the domain's email module
is imported with the app, so the worker knows every renderer a request can name.

A job that queues thousands at once (the follow-up plan) uses `enqueue_deferred_many`: the same rows,
written with one `INSERT ... ON CONFLICT (key) DO NOTHING` per batch (outbox.py's `enqueue_emails`),
so queueing costs a few statements and the rendering is spread over the delivery workers.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from email.headerregistry import Address
from typing import Any, Callable

from sqlalchemy import select

from eventsite.core.db import utcnow
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.mail.outbox import (
    ENQUEUE_BATCH,
    RESERVED_HEADERS,
    Attachment,
    _insert_new,
    _message_id_domain,
    checked_recipient,
    header_safe,
    valid_header_name,
)
from eventsite.extensions import db


@dataclass(frozen=True)
class Content:
    """What a renderer returns: everything of the message but its recipient, key and Message-ID."""

    subject: str
    text: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


class NothingToSend(Exception):
    """The renderer's subject no longer exists; the message is given up at once with this reason."""


RENDERERS: dict[str, Callable[[dict[str, Any]], Content]] = {}
PREPARERS: dict[str, Callable[[list[dict[str, Any]]], Any]] = {}


def renderer(name: str, *, prepare: Callable[[list[dict[str, Any]]], Any] | None = None):
    """Register `fn(args) -> Content` under `name` (called in an app context by the worker).

    `prepare(list of args)`, optional, is called once for a batch of rows of this renderer before
    they are rendered, to load what they need in a few queries into the session (the worker keeps
    what it returns alive until the batch is rendered). An optimisation only: `fn` must work without
    it, and it must not write."""

    def register(fn: Callable[[dict[str, Any]], Content]) -> Callable[[dict[str, Any]], Content]:
        RENDERERS[name] = fn
        if prepare is not None:
            PREPARERS[name] = prepare
        return fn

    return register


def prepare(rows: Iterable[OutboxMessage]) -> list[Any]:
    """Let each renderer prepare its rows of this batch (see `renderer`). Returns what the preparers
    returned: keep it until the rows are rendered (the session holds loaded objects weakly). A
    preparer that fails is logged and skipped; each row's own rendering then loads what it needs."""
    import logging

    by_renderer: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.renderer in PREPARERS:
            by_renderer.setdefault(row.renderer, []).append(dict(row.render_args or {}))
    kept = []
    for name, batch in by_renderer.items():
        try:
            with db.session.begin_nested():
                kept.append(PREPARERS[name](batch))
        except Exception:  # noqa: BLE001 - an optimisation failed; rendering row by row still works
            logging.getLogger(__name__).warning("deferred: preparing %d %s rows failed", len(batch), name, exc_info=True)
    return kept


def enqueue_deferred(*, key: str, to: str | Address, renderer: str, args: dict[str, Any], subject: str = "") -> bool:
    """Queue an email whose content `renderer(args)` makes at send time (see the module doc).

    `to` is a string (parsed and checked) or a `mailbox(name, email)`. `args` must be JSON (ids, not
    objects). `subject` is shown until the worker renders (the outbox list); the renderer's subject
    replaces it. Idempotent by `key`, like `enqueue_email`: True when queued now, False when the key
    was queued before (that row is left as it was). One `INSERT ... ON CONFLICT DO NOTHING`, no
    lookup and no ORM flush: it is on the registration's path (bench/README.md).
    """
    return bool(enqueue_deferred_many([DeferredEmail(key=key, to=to, renderer=renderer, args=args, subject=subject)]))


@dataclass(frozen=True)
class DeferredEmail:
    """One email for `enqueue_deferred_many`: the same fields as `enqueue_deferred`'s arguments."""

    key: str
    to: str | Address  # a string, or a `mailbox(name, email)`: checked already, not parsed again
    renderer: str
    args: dict[str, Any]
    subject: str = ""


def enqueue_deferred_many(
    emails: Iterable[DeferredEmail],
    *,
    batch: int = ENQUEUE_BATCH,
    on_unusable: Callable[[DeferredEmail, ValueError], None] | None = None,
) -> list[str]:
    """Queue many deferred emails in the current session (not committed here), idempotent by key
    like `enqueue_deferred`: a key that exists already (or comes twice) keeps its first row.

    One `INSERT ... ON CONFLICT (key) DO NOTHING` per `batch` rows, as `enqueue_emails` does. A
    recipient that cannot be used raises ValueError, or, with `on_unusable`, is passed to it and
    skipped (the others are queued). An unknown renderer always raises ValueError. Returns the keys
    queued now, in the order given.
    """
    domain = _message_id_domain()
    queued: list[str] = []
    rows: list[dict] = []
    for email in emails:
        if email.renderer not in RENDERERS:
            raise ValueError(f"enqueue_deferred: no renderer named {email.renderer!r}")
        try:
            to = checked_recipient(email.to)
        except ValueError as e:
            if on_unusable is None:
                raise
            on_unusable(email, e)
            continue
        rows.append(_deferred_row(email, to, domain))
        if len(rows) >= batch:
            queued += _insert_new(rows)
            rows = []
    if rows:
        queued += _insert_new(rows)
    return queued


def _deferred_row(email: DeferredEmail, to: str, domain: str) -> dict:
    import secrets

    now = utcnow()
    return {
        "key": email.key,
        "message_id": f"<{secrets.token_hex(16)}@{domain}>",
        "to_addr": to,
        "subject": header_safe(email.subject)[:300],
        "text_body": "",
        "html_body": None,
        "attachments": [],
        "headers": {},
        "renderer": email.renderer,
        "render_args": dict(email.args),
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def materialize(row: OutboxMessage) -> bool:
    """Write the content of a deferred row into it (not committed here). False if it had content.

    Raises NothingToSend, a KeyError for an unknown renderer, or whatever the renderer raises.
    """
    if not row.renderer:
        return False
    try:
        render = RENDERERS[row.renderer]
    except KeyError:
        raise KeyError(f"no renderer named {row.renderer!r} in this process") from None
    content = render(dict(row.render_args or {}))
    extra = {}
    for name, value in (content.headers or {}).items():
        if not valid_header_name(name) or name.lower() in RESERVED_HEADERS:
            raise ValueError(f"renderer {row.renderer}: {name!r} cannot be used as an extra header")
        extra[name] = header_safe(value)
    row.subject = header_safe(content.subject)[:300]
    row.text_body = content.text
    row.html_body = content.html
    row.attachments = [a.to_json() for a in content.attachments]
    row.headers = extra
    row.renderer = None
    return True


def materialize_pending(limit: int | None = None) -> int:
    """Render every deferred row still waiting (tests and tools that read rows rather than mail)."""
    query = select(OutboxMessage).where(OutboxMessage.renderer.is_not(None)).order_by(OutboxMessage.id)
    if limit:
        query = query.limit(limit)
    rows = list(db.session.scalars(query))
    kept = prepare(rows)  # noqa: F841 - alive until the rows are rendered
    n = 0
    for row in rows:
        n += materialize(row)
    db.session.flush()
    return n
