"""Cleaning registration input: names, emails, quantities, attendees and answers.

Each validator records a message under the form's field name in `errors` and returns the clean value.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from eventsite.events.models import (
    Event,
    EventStatus,
    Question,
    QuestionKind,
    TicketType,
)
from eventsite.registration.errors import (
    RegistrationClosedError,
)
from eventsite.registration.models import (
    OrderSource,
)

NAME_MAX = 200
EMAIL_MAX = 254
SHORT_TEXT_MAX = 300
LONG_TEXT_MAX = 4000
CONSENT_MISSING = "Tick this box to agree to the organizer's terms and conditions."
MAX_TICKETS_PER_ORDER = 100

# Control characters (C0, DEL, C1), line and paragraph separators, and the bidirectional overrides
# and isolates that would let a name display reversed in the organizer's list.
_BAD_NAME_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
# Long answers may have line breaks and tabs, nothing else of the kind.
_BAD_TEXT_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"", "0", "false", "no", "off", "n"}



def clean_name(value: Any, field: str, errors: dict[str, str], *, missing: str = "Enter your name.") -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(field, "Enter a name as text.")
        return ""
    value = re.sub(r" {2,}", " ", value).strip()
    if not value:
        errors.setdefault(field, missing)
    elif len(value) > NAME_MAX:
        errors.setdefault(field, f"Use at most {NAME_MAX} characters.")
    elif _BAD_NAME_CHARS.search(value):
        errors.setdefault(field, "Use letters, spaces and punctuation only: no line breaks or control characters.")
    return value


def clean_email(value: Any, field: str, errors: dict[str, str], *, required: bool = True) -> str | None:
    """email-validator's syntax check (no DNS lookup), normalized and lower-cased for comparisons."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(field, "Enter an email address as text.")
        return None
    value = value.strip()
    if not value:
        if required:
            errors.setdefault(field, "Enter your email address.")
        return None
    if len(value) > EMAIL_MAX:
        errors.setdefault(field, f"An email address has at most {EMAIL_MAX} characters.")
        return None
    try:
        # Without SMTPUTF8, which most mail servers still lack: an address whose part before the @
        # is not ASCII could be stored but never delivered, so it is refused here with the reason.
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as e:
        errors.setdefault(field, f"Enter a valid email address, like name@example.org. ({e})")
        return None
    # An internationalized domain is kept in its ASCII (punycode) form, the one mail servers take.
    return (result.ascii_email or result.normalized).lower()


def int_or_error(value: Any) -> int | None:
    if value is None:
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        s = value.strip()
        if s == "":
            return 0
        if re.fullmatch(r"[+-]?\d{1,6}", s):
            return int(s)
    return None


def clean_quantities(
    event: Event, quantities: Mapping[Any, Any] | None, errors: dict[str, str], *, complimentary: bool, now: datetime
) -> list[tuple[TicketType, int]]:
    """[(ticket type, n)] in the event's display order, n >= 1."""
    types = {tt.id: tt for tt in event.ticket_types}
    wanted: Counter[int] = Counter()
    if quantities is not None and not isinstance(quantities, Mapping):
        errors.setdefault("quantity", "Choose how many tickets of each type you want.")
        return []
    for key, raw in (quantities or {}).items():
        tid = int_or_error(key)
        if tid is None or isinstance(key, bool) or tid <= 0:
            errors.setdefault("quantity", "One of the ticket types is not part of this event.")
            continue
        field = f"quantity-{tid}"
        n = int_or_error(raw)
        if n is None:
            errors.setdefault(field, "Choose a number of tickets.")
            continue
        if n < 0:
            errors.setdefault(field, "The number of tickets cannot be negative.")
            continue
        if n and tid not in types:
            errors.setdefault(field, "This ticket type is not part of this event.")
            continue
        wanted[tid] += n

    lines: list[tuple[TicketType, int]] = []
    for tt in event.ticket_types:
        n = wanted.get(tt.id, 0)
        if n <= 0:
            continue
        field = f"quantity-{tt.id}"
        if not complimentary:
            if tt.hidden:
                errors.setdefault(field, "This ticket type is not available.")
                continue
            if not tt.on_sale(now):
                if tt.sales_start and now < tt.sales_start:
                    errors.setdefault(field, f"Sales of “{tt.name}” have not started yet.")
                else:
                    errors.setdefault(field, f"Sales of “{tt.name}” have ended.")
                continue
            if n > tt.max_per_order:
                errors.setdefault(field, f"You can get at most {tt.max_per_order} of “{tt.name}” in one order.")
                continue
        lines.append((tt, n))

    total = sum(n for _, n in lines)
    quantity_errors = any(k == "quantity" or k.startswith("quantity-") for k in errors)
    if total == 0 and not quantity_errors:
        errors.setdefault("quantity", "Choose at least one ticket.")
    elif total > MAX_TICKETS_PER_ORDER:
        errors.setdefault("quantity", f"At most {MAX_TICKETS_PER_ORDER} tickets fit in one order.")
    if not complimentary:
        currencies = {tt.currency for tt, _ in lines if tt.price_cents > 0}
        if len(currencies) > 1:
            errors.setdefault("quantity", "Tickets priced in different currencies must be ordered separately.")
    return lines


def clean_attendees(attendees: Any, needed: int, errors: dict[str, str]) -> list[tuple[str, str | None]]:
    """(name, email or None) for each extra ticket (the first ticket is the buyer's)."""
    if attendees is None:
        attendees = []
    if isinstance(attendees, (str, bytes, Mapping)) or not isinstance(attendees, Iterable):
        errors.setdefault("attendee-1-name", "Give a name for each extra ticket.")
        return []
    attendees = list(attendees)
    out: list[tuple[str, str | None]] = []
    for i in range(needed):
        item = attendees[i] if i < len(attendees) else {}
        if not isinstance(item, Mapping):
            item = {}
        base = f"attendee-{i + 1}"
        name = clean_name(item.get("name"), f"{base}-name", errors,
                          missing=f"Enter the name of the person for ticket {i + 2}.")
        email = clean_email(item.get("email"), f"{base}-email", errors, required=False)
        out.append((name, email))
    for j in range(needed, len(attendees)):
        item = attendees[j]
        if isinstance(item, Mapping) and any(str(item.get(k) or "").strip() for k in ("name", "email")):
            errors.setdefault(
                f"attendee-{j + 1}-name",
                f"You chose {needed + 1} ticket{'s' if needed else ''}: remove this name or choose more tickets.",
            )
    return out


def truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    return None


def clean_answer(q: Question, raw: Any, field: str, errors: dict[str, str], *, enforce_required: bool):
    """The stored form of one answer, or None when there is nothing to store."""
    required = q.required and enforce_required
    kind = q.kind
    if kind == QuestionKind.CHECKBOX:
        value = truthy(raw)
        if value is None:
            errors.setdefault(field, "Tick the box or leave it empty.")
            return None
        if required and not value:
            errors.setdefault(field, "Tick this box to continue.")
            return None
        return value

    if kind == QuestionKind.MULTIPLE_CHOICE:
        if raw is None or raw == "":
            raw = []
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, (list, tuple)) or not all(isinstance(v, str) for v in raw):
            errors.setdefault(field, "Choose among the options.")
            return None
        chosen = {v.strip() for v in raw if v.strip()}
        if not chosen <= set(q.options):
            errors.setdefault(field, "Choose among the options.")
            return None
        if not chosen:
            if required:
                errors.setdefault(field, "Choose at least one option.")
            return None
        return [o for o in q.options if o in chosen]  # in the organizer's order, no duplicates

    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        errors.setdefault(field, "Answer with text.")
        return None
    if kind == QuestionKind.SINGLE_CHOICE:
        value = raw.strip()
        if not value:
            if required:
                errors.setdefault(field, "Choose one of the options.")
            return None
        if value not in q.options:
            errors.setdefault(field, "Choose one of the options.")
            return None
        return value

    long = kind == QuestionKind.LONG_TEXT
    value = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    limit = LONG_TEXT_MAX if long else SHORT_TEXT_MAX
    if not value:
        if required:
            errors.setdefault(field, "Please answer this question.")
        return None
    if len(value) > limit:
        errors.setdefault(field, f"Use at most {limit} characters.")
        return None
    if _BAD_TEXT_CHARS.search(value) or (not long and ("\n" in value or "\t" in value)):
        errors.setdefault(field, "Remove the line breaks or control characters." if not long
                          else "Remove the control characters.")
        return None
    return value


def clean_answers(event: Event, answers: Mapping[Any, Any] | None, errors: dict[str, str], *, enforce_required: bool) -> dict[str, Any]:
    given: dict[int, Any] = {}
    if answers is not None and not isinstance(answers, Mapping):
        errors.setdefault("__all__", "The answers could not be read.")
        return {}
    for key, value in (answers or {}).items():
        qid = int_or_error(key)
        if qid and not isinstance(key, bool):
            given[qid] = value  # answers to questions of other events are simply ignored
    out: dict[str, Any] = {}
    for q in event.questions:
        value = clean_answer(q, given.get(q.id), f"question-{q.id}", errors, enforce_required=enforce_required)
        if value is not None:
            out[str(q.id)] = value
    return out


def check_open(event: Event, now: datetime, source: OrderSource) -> None:
    if event.status == EventStatus.CANCELLED:
        raise RegistrationClosedError("This event has been cancelled.")
    if source == OrderSource.COMPLIMENTARY:
        return  # the organizer may add guests to a draft, before opening or after closing
    if not event.registration_is_open(now):
        from eventsite.events.display import registration_note

        raise RegistrationClosedError(registration_note(event, now) or "Registration is not open.")

