"""Domain errors: a human message and a short machine code. Views only translate them."""
from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain said no. `code` is stable and machine-readable."""

    code = "domain_error"
    status = 400

    def __init__(self, message: str, code: str | None = None, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class ValidationError(DomainError):
    """Input that breaks a rule; `errors` maps field names to messages."""

    code = "invalid"
    status = 422

    def __init__(self, errors: dict[str, str] | str, code: str | None = None):
        if isinstance(errors, str):
            errors = {"__all__": errors}
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" if k != "__all__" else v for k, v in errors.items()), code)


class NotFoundError(DomainError):
    code = "not_found"
    status = 404


class PermissionDeniedError(DomainError):
    code = "forbidden"
    status = 403


class ConflictError(DomainError):
    code = "conflict"
    status = 409
