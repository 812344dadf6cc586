"""Email through an outbox: rows written in the caller's transaction, delivered by the worker."""
from eventsite.core.mail.outbox import Attachment, enqueue_email, format_address

__all__ = ["Attachment", "enqueue_email", "format_address"]
