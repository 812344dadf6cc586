"""Payments: paid tickets through Stripe Checkout, seat holds, verified webhooks, refunds.

Modules: `stripe_gateway` (the only one that imports `stripe`), `providers` (Stripe, the dev payment
page, or none), `models`, `services` (fulfilment, and the lookups and locks the others share;
re-exports the entry points of `refunds` and `webhooks`), `checkout` (starting a checkout), `holds`
(seat holds that end unpaid), `refunds`, `webhooks`, `policy` (the event's refund policy), `reports`
(revenue), `emails`, `dev` (the dev page's signed webhook), `views` (webhook, success and payment
pages, her paid cancellation, the dev page) and `manage_views` (the organizer's Payments tab).

Importing the package hooks it into the lower domains (`_wire`): every registration first expires
the event's seat holds that ran out (`registration.before_registration`), a new paid order is held
until its checkout session would end (`registration.paid_hold_end`), a cancelled event's paid orders
are refunded (`events.on_event_cancelled`), and the worker gets two jobs (`payments.expire_holds`,
`payments.send_due_refunds`). Importing `views` sets `registration.views.start_payment` and adds the
refund policy to the event page.
"""
from eventsite.core.tasks import register_task
from eventsite.events import services as _event_services
from eventsite.payments import checkout as _checkout
from eventsite.payments import holds as _holds
from eventsite.payments import refunds as _refunds
from eventsite.payments import services as _services  # noqa: F401
from eventsite.registration import services as _registration_services

# --- wiring: hooks into lower domains and the worker's periodic jobs ---------------------------


def _wire() -> None:
    _registration_services.paid_hold_end = _checkout.paid_hold_end
    if _holds.expire_holds_before_registration not in _registration_services.before_registration:
        _registration_services.before_registration.append(_holds.expire_holds_before_registration)
    if _refunds.refund_cancelled_event not in _event_services.on_event_cancelled:
        _event_services.on_event_cancelled.append(_refunds.refund_cancelled_event)
    register_task("payments.expire_holds", _holds.expire_holds_task)
    register_task("payments.send_due_refunds", _refunds.send_due_refunds_task)


_wire()
