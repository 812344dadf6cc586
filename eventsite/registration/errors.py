"""What registration can refuse, each with a stable machine `code` that views translate."""
from __future__ import annotations

from eventsite.core.errors import ConflictError, DomainError, NotFoundError


class SoldOutError(ConflictError):
    """The conditional UPDATE found no room. `field` is `quantity-<ticket type id>`."""

    code = "sold_out"

    def __init__(self, message: str, *, field: str | None = None, ticket_type_id: int | None = None):
        super().__init__(message, field=field)
        self.ticket_type_id = ticket_type_id


class AlreadyRegisteredError(ConflictError):
    """This email already has a live order for this event. The view offers "send my ticket again"."""

    code = "already_registered"

    def __init__(self, message: str = "This email address is already registered for this event.", *, field: str = "email"):
        super().__init__(message, field=field)


class RegistrationClosedError(ConflictError):
    """The event is cancelled, over, not yet open, or no longer open for registration."""

    code = "registration_closed"


class NotCancellableError(ConflictError):
    """Paid tickets are cancelled through the refund rules (the payment issue); used tickets not at all."""

    code = "not_cancellable"


class TicketNotEditableError(DomainError):
    code = "not_editable"
    status = 409


# --- the waitlist --------------------------------------------------------------------------------

class TicketsAvailableError(ConflictError):
    """Joining the waitlist for a ticket type that can still be bought."""

    code = "tickets_available"


class AlreadyOnWaitlistError(ConflictError):
    code = "already_waiting"

    def __init__(self, message: str = "This email address is already on the waitlist for this event.",
                 *, field: str = "email"):
        super().__init__(message, field=field)


class WaitlistLinkError(NotFoundError):
    """No entry behind this link (mistyped, tampered with, or from another site)."""

    code = "waitlist_link_invalid"

    def __init__(self, message: str = "This waitlist link is not valid."):
        super().__init__(message)


class OfferNotAvailableError(ConflictError):
    """The offer was claimed already, ran out, or was passed on; `entry_status` says which."""

    code = "offer_not_available"

    def __init__(self, message: str, *, entry_status: str | None = None):
        super().__init__(message)
        self.entry_status = entry_status


class PaymentUnavailableError(ConflictError):
    """A paid offer while online payment is not available: it cannot be claimed here yet."""

    code = "payment_unavailable"

    def __init__(self, message: str = ("Online payment is not available yet, so this paid place cannot be claimed "
                                       "here. It stays reserved for you until the time shown; please contact "
                                       "the organizer.")):
        super().__init__(message)
