"""Payments: paid tickets through Stripe Checkout, seat holds, verified webhooks, refunds.

Modules: `stripe_gateway` (the only one that imports `stripe`), `providers` (Stripe, the dev payment
page, or none), `models`, `services` (checkout, fulfilment, holds; re-exports the rest), `refunds`,
`webhooks`, `policy` (the event's refund policy), `reports` (revenue), `emails`, `dev` (the dev
page's signed webhook), `views` (webhook, success and payment pages, her paid cancellation, the dev
page) and `manage_views` (the organizer's Payments tab).

Importing the package imports its services, which hook into the lower domains: every registration
first expires the event's seat holds that ran out (`registration.before_registration`), a cancelled
event's paid orders are refunded (`events.on_event_cancelled`), and the worker gets two jobs
(`payments.expire_holds`, `payments.send_due_refunds`). Importing `views` sets
`registration.views.start_payment` and adds the refund policy to the event page.
"""
from eventsite.payments import services as _services  # noqa: F401
