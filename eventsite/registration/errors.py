"""What registration can refuse, each with a stable machine `code` that views translate."""
from __future__ import annotations

from eventsite.core.errors import ConflictError, DomainError


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
