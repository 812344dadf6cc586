"""Registration: orders, tickets, QR codes, confirmation and cancellation emails.

Importing the package imports its cancellation module, which adds `cancel_orders_of_event` to
`events.services.on_event_cancelled`: whenever the app's models are loaded, cancelling an event
cancels its orders and tells the buyers.
"""
from eventsite.registration import cancellation as _cancellation  # noqa: F401
from eventsite.registration import services as _services  # noqa: F401
from eventsite.registration import waitlist as _waitlist  # noqa: F401  (installs the waitlist's event-cancelled hook)
from eventsite.registration import waitlist_offers as _waitlist_offers  # noqa: F401  (its seats-released hook and task)
