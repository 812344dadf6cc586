"""The event's refund policy: what an attendee gets back when she cancels a paid order herself.

One rule, set by the organizer in the event editor (`Event.refund_until_days_before`):
- None: cancelling is allowed (the seats go back to sale) but refunds nothing;
- N >= 0: a full refund when she cancels at least N days before the event starts (0: until the
  start), nothing after that.
The organizer's own refund button is not bound by it. Nobody cancels a ticket already used at the
door, or after the event has started.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from eventsite.core.text import format_local, format_money
from eventsite.events.models import Event


@dataclass(frozen=True)
class CancellationQuote:
    allowed: bool
    refund_cents: int
    currency: str
    message: str  # why not, or what she gets: shown on the confirmation page

    @property
    def refund_text(self) -> str:
        return format_money(self.refund_cents, self.currency)


def refund_deadline(event: Event) -> datetime | None:
    """The last moment a cancellation is refunded, or None when the policy refunds nothing."""
    if event.refund_until_days_before is None:
        return None
    return event.starts_at - timedelta(days=int(event.refund_until_days_before))


def policy_text(event: Event) -> str:
    """The policy in one sentence, in the event's time zone."""
    deadline = refund_deadline(event)
    if deadline is None:
        return "Refunds: paid tickets are not refunded when you cancel."
    if event.refund_until_days_before == 0:
        return "Refunds: full refund if you cancel before the event starts."
    days = int(event.refund_until_days_before)
    return (f"Refunds: full refund if you cancel by {format_local(deadline, event.timezone)} "
            f"({days} day{'s' if days != 1 else ''} before the start); no refund after that.")


def quote_cancellation(event: Event, *, paid_cents: int, currency: str, checked_in: bool,
                       now: datetime) -> CancellationQuote:
    """May she cancel now, and what comes back (`paid_cents` is what is still refundable)."""
    if checked_in:
        return CancellationQuote(False, 0, currency, "A ticket already used at the door cannot be cancelled.")
    if now >= event.starts_at:
        return CancellationQuote(False, 0, currency, "The event has started: tickets can no longer be cancelled.")
    deadline = refund_deadline(event)
    if deadline is not None and now < deadline and paid_cents > 0:
        return CancellationQuote(True, paid_cents, currency,
                                 f"You get a full refund of {format_money(paid_cents, currency)}.")
    if deadline is None:
        why = "This event's tickets are not refundable"
    else:
        why = f"Refunds ended on {format_local(deadline, event.timezone)}"
    return CancellationQuote(True, 0, currency, f"{why}: cancelling frees your seats but refunds nothing.")
