"""Waitlist emails, queued in the outbox inside the caller's transaction, one key per occasion.

- joined: `waitlist-joined:<entry id>`: her place in the queue, her waitlist page, how to leave.
- offer: `waitlist-offer:<entry id>`: a place is reserved for her until a given time; the claim link
  `{EVENTSITE_BASE_URL}/waitlist/<token>`. An entry is offered at most once, so the key is per entry.
- event cancelled: `waitlist-event-cancelled:<entry id>`.

Templates are `registration/waitlist_email_<name>.{txt,html}`, rendered like the other registration
emails (registration/emails.py: the app's Jinja environment with this package's templates; `.html`
autoescaped, `.txt` not). Names reach the To header only through `format_address`, and subjects are
built from the event title only.
"""
from __future__ import annotations

from eventsite.core.mail import enqueue_email
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.mail.outbox import format_address
from eventsite.core.text import format_money
from eventsite.events.display import absolute_url, format_moment
from eventsite.registration.emails import _env, _event_context


def entry_url(entry) -> str:
    """Her waitlist page (status, claim, leave): `/waitlist/<token>` under EVENTSITE_BASE_URL."""
    return absolute_url(f"/waitlist/{entry.token}")


def leave_url(entry) -> str:
    return absolute_url(f"/waitlist/{entry.token}/leave")


def _render(name: str, **context) -> tuple[str, str]:
    env = _env()
    text = env.get_template(f"registration/waitlist_email_{name}.txt").render(**context)
    html = env.get_template(f"registration/waitlist_email_{name}.html").render(**context)
    return text, html


def _context(entry) -> dict:
    event = entry.event
    return {
        **_event_context(event),
        "entry": entry,
        "page_url": entry_url(entry),
        "leave_url": leave_url(entry),
        "wanted": entry.ticket_type.name if entry.ticket_type else "any ticket type",
        "tickets": f"{entry.quantity} ticket{'s' if entry.quantity != 1 else ''}",
    }


def _queue(entry, key: str, subject: str, name: str, **context) -> OutboxMessage:
    text, html = _render(name, **_context(entry), **context)
    return enqueue_email(key=key, to=format_address(entry.name, entry.email), subject=subject, text=text, html=html)


def queue_joined(entry, position: int, hours: float) -> OutboxMessage:
    """`hours`: how long an offer will stay open (WAITLIST_OFFER_HOURS)."""
    return _queue(entry, f"waitlist-joined:{entry.id}", f"You're on the waitlist: {entry.event.title}", "joined",
                  position=position, offer_hours=int(hours) if hours == int(hours) else hours)


def queue_offer(entry) -> OutboxMessage:
    event = entry.event
    tt = entry.offered_ticket_type
    price = format_money(tt.price_cents * entry.quantity, tt.currency) if tt.price_cents else None
    return _queue(entry, f"waitlist-offer:{entry.id}", f"A place is free for you: {event.title}", "offer",
                  offered_type=tt.name, price=price,
                  expires=format_moment(entry.offer_expires_at, event.timezone))


def queue_event_cancelled(entry) -> OutboxMessage:
    return _queue(entry, f"waitlist-event-cancelled:{entry.id}", f"Event cancelled: {entry.event.title}",
                  "event_cancelled")
