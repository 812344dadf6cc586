"""Registration emails, queued in the outbox inside the caller's transaction.

- confirmation: one per order (and per resend), rendered by the worker when it sends it, HTML and text, each valid ticket with its attendee,
  ticket type and QR code as an inline image (cid:), the event's `.ics` attached, the link to the
  ticket page and the order code.
- cancellation: tickets or the whole order cancelled.
- event cancelled: the organizer called the event off; the `.ics` (STATUS:CANCELLED) lets calendars
  update the entry.

Templates live in `registration/templates/registration/email/`. They are rendered with the app's
Jinja environment (so its filters work) through an overlay that also finds this package's templates,
which does not depend on a blueprint being registered. `.html` templates are autoescaped, `.txt` are
not (plain text is not HTML). Nothing a visitor typed reaches a header except through
`enqueue_email`, which collapses CR/LF, and the subject is built from the event title only.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from urllib.parse import urlparse

from flask import current_app
from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from eventsite.core.mail import Attachment, enqueue_email
from eventsite.core.mail.deferred import (
    Content,
    NothingToSend,
    enqueue_deferred,
    renderer,
)
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.mail.outbox import format_address, mailbox
from eventsite.core.text import format_money
from eventsite.events.calendar import event_ics
from eventsite.events.display import absolute_url, event_url, format_range, map_url
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.answers import answered_lines

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()


def _env() -> Environment:
    app = current_app._get_current_object()
    env = app.extensions.get("registration_email_env")
    if env is None:
        env = app.jinja_env.overlay(loader=ChoiceLoader([FileSystemLoader(TEMPLATES), app.jinja_env.loader]))
        app.extensions["registration_email_env"] = env
    return env


def _render(name: str, **context) -> tuple[str, str]:
    env = _env()
    text = env.get_template(f"registration/email/{name}.txt").render(**context)
    html = env.get_template(f"registration/email/{name}.html").render(**context)
    return text, html


def ticket_page_url(order) -> str:
    """The private ticket page, `/tickets/<token>` under EVENTSITE_BASE_URL."""
    return absolute_url(f"/tickets/{order.token}")


def _recipient(order) -> str:
    """`"Ada Lovelace" <ada@example.org>`, the name quoted by the outbox so it cannot split the header."""
    return format_address(order.buyer_name, order.buyer_email)


def _web_link(url: str | None) -> str | None:
    """Only http(s) links become links (the event editor checks this too; belt and braces)."""
    if url and urlparse(url).scheme in ("http", "https"):
        return url
    return None


def _event_context(event: Event) -> dict:
    venue_lines = [line.strip() for line in [event.venue_name or "", *(event.venue_address or "").splitlines()] if line.strip()]
    return {
        "event": event,
        "when": format_range(event),
        "timezone": event.timezone,
        "venue_lines": venue_lines,
        "map_url": map_url(event) if venue_lines else None,
        "online_url": _web_link(event.online_url),
        "event_url": event_url(event),
    }


# The `.ics` attached to confirmations, per version of the event (see _confirmation_ics).
_ICS_CACHE: dict[tuple, tuple[float, bytes]] = {}
ICS_CACHE_SECONDS = 300.0
_ICS_CACHE_MAX = 256


def _confirmation_ics(event: Event) -> bytes:
    """The event's calendar file for a confirmation or cancellation email.

    Every email about one event attaches the same file (only DTSTAMP, the time it was made, would
    differ), and making it (the VTIMEZONE from zoneinfo, the description as text, line folding) was
    about a tenth of a registration's CPU time in the registration rush (bench/README.md). So it is
    made once per version of the event and kept for a few minutes in this process: the key holds
    everything `event_ics` reads, so any change to the event makes a new file at once.
    """
    key = (
        current_app.config.get("EVENTSITE_BASE_URL"), event.id, event.slug, event.title, event.summary,
        event.description, event.venue_name, event.venue_address, event.online_url, event.starts_at,
        event.ends_at, event.timezone, event.status, event.updated_at,
    )
    now = time.monotonic()
    hit = _ICS_CACHE.get(key)
    if hit is not None and now - hit[0] < ICS_CACHE_SECONDS:
        return hit[1]
    data = event_ics(event)
    if len(_ICS_CACHE) >= _ICS_CACHE_MAX:
        _ICS_CACHE.clear()
    _ICS_CACHE[key] = (now, data)
    return data


def render_confirmation(order) -> RenderedEmail:
    event = order.event
    tickets = order.valid_tickets  # works before the order is flushed: no ids needed
    items = []
    attachments: list[Attachment] = []
    from eventsite.registration.qr import qr_png

    for n, ticket in enumerate(tickets, start=1):
        cid = f"qr-{order.code}-{n}@eventsite"
        items.append({
            "number": n,
            "attendee": ticket.attendee_name,
            "type_name": ticket.ticket_type.name,
            "secret": ticket.secret,
            "cid": cid,
        })
        attachments.append(Attachment(f"ticket-{n}-qr.png", "image/png", qr_png(ticket.secret), inline_cid=cid))
    attachments.append(Attachment("event.ics", "text/calendar", _confirmation_ics(event)))
    context = {
        **_event_context(event),
        "order": order,
        "items": items,
        "answers": answered_lines(order.event, order.answers),
        "ticket_url": ticket_page_url(order),
        "total": format_money(order.total_cents, order.currency) if order.total_cents else None,
    }
    text, html = _render("confirmation", **context)
    return RenderedEmail(_confirmation_subject(order), text, html, tuple(attachments))


CONFIRMATION_RENDERER = "registration.confirmation"


def _confirmation_subject(order) -> str:
    return f"Your ticket{'s' if len(order.valid_tickets) != 1 else ''}: {order.event.title}"


def queue_confirmation(order, *, key: str) -> bool:
    """Queue the confirmation of a flushed order; the worker renders it (QR codes and all) when it
    sends it, from the order as it is then (core/mail/deferred.py says why). False if `key` was
    queued before."""
    return enqueue_deferred(key=key, to=mailbox(order.buyer_name, order.buyer_email), renderer=CONFIRMATION_RENDERER,
                            args={"order_id": order.id}, subject=_confirmation_subject(order))


@renderer(CONFIRMATION_RENDERER)
def _confirmation_content(args: dict) -> Content:
    from eventsite.registration.models import Order

    order = db.session.get(Order, args.get("order_id"))
    if order is None:
        raise NothingToSend(f"order {args.get('order_id')} no longer exists")
    email = render_confirmation(order)
    return Content(subject=email.subject, text=email.text, html=email.html, attachments=email.attachments)


def queue_cancellation(order, lines: list[tuple[str, str]], *, whole_order: bool, key: str) -> OutboxMessage:
    """`lines`: (attendee name, ticket type name) of the tickets just cancelled."""
    event = order.event
    context = {
        **_event_context(event),
        "order": order,
        "lines": lines,
        "whole_order": whole_order,
        "ticket_url": None if whole_order else ticket_page_url(order),
    }
    text, html = _render("cancellation", **context)
    subject = f"Cancelled: your {'registration' if whole_order else 'ticket'} for {event.title}"
    return enqueue_email(key=key, to=_recipient(order), subject=subject, text=text, html=html)


def queue_event_cancelled(order, *, key: str) -> OutboxMessage:
    event = order.event
    context = {**_event_context(event), "order": order, "paid": order.total_cents > 0}
    text, html = _render("event_cancelled", **context)
    return enqueue_email(
        key=key, to=_recipient(order), subject=f"Event cancelled: {event.title}", text=text, html=html,
        attachments=[Attachment("event.ics", "text/calendar", _confirmation_ics(event))],
    )
