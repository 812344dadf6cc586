"""Validation of event, ticket type and question input, shared by the organizer forms and the API.

Each `clean_*` takes a plain dict (form data mapped to field names, or JSON), raises
`ValidationError({field: message})` naming every bad field, and returns the clean values.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import urlparse
from zoneinfo import available_timezones

from eventsite.core.errors import (
    ValidationError,
)
from eventsite.core.text import SLUG_RE
from eventsite.events.models import (
    Event,
    EventStatus,
    Question,
    QuestionKind,
    TicketType,
)
from eventsite.events.uploads import (
    STORED_NAME_RE,  # the only names a cover image may have
)

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LINE_BREAK_RE = re.compile(r"[\r\n]")
# Slugs that would collide with the organizer's own routes (/organizer/events/new).
RESERVED_SLUGS = frozenset({"new"})
MIN_YEAR, MAX_YEAR = 1970, 2999  # outside this range a date is a typo (and may overflow)

EVENT_FIELDS = {
    "title", "slug", "summary", "description", "starts_at", "ends_at", "timezone", "venue_name",
    "venue_address", "online_url", "registration_opens_at", "registration_closes_at", "capacity",
    "currency", "status", "cover_image", "terms_url", "hold_minutes", "refund_until_days_before",
}
TICKET_TYPE_FIELDS = {
    "name", "description", "price_cents", "currency", "capacity", "sales_start", "sales_end", "hidden",
    "position", "max_per_order",
}
QUESTION_FIELDS = {"label", "kind", "required", "options", "position", "show_at_door"}


@lru_cache(maxsize=1)
def timezones() -> frozenset[str]:
    return frozenset(available_timezones())


# --- field checks: each returns the clean value or adds to `errors` ----------------------------

class Checker:
    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)

    def text(self, data: dict, name: str, max_len: int, *, required: bool = False, multiline: bool = False):
        value = data.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.fail(name, "Must be text.")
            return None
        value = value.strip()
        if required and not value:
            self.fail(name, "This field is required.")
        elif len(value) > max_len:
            self.fail(name, f"Use at most {max_len} characters.")
        elif CONTROL_RE.search(value) or (not multiline and LINE_BREAK_RE.search(value)):
            self.fail(name, "Remove the control characters or line breaks.")
        return value

    def integer(self, data: dict, name: str, *, minimum: int = 0, maximum: int = 10_000_000, required: bool = False):
        value = data.get(name)
        if value is None or value == "":
            if required:
                self.fail(name, "This field is required.")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value.strip()):  # not isdigit(): "²"
                value = int(value.strip())
            else:
                self.fail(name, "Must be a whole number.")
                return None
        if value < minimum or value > maximum:
            self.fail(name, f"Must be between {minimum} and {maximum:,}.")
            return None
        return value

    def moment(self, data: dict, name: str, *, required: bool = False):
        value = data.get(name)
        if value is None or value == "":
            if required:
                self.fail(name, "This field is required.")
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                self.fail(name, "Use an ISO 8601 date and time with an offset, e.g. 2027-03-08T18:30:00+01:00.")
                return None
        if not isinstance(value, datetime):
            self.fail(name, "Must be a date and time.")
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail(name, "Give the time zone offset, e.g. 2027-03-08T18:30:00+01:00.")
            return None
        try:
            value = value.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            value = None
        if value is None or not (MIN_YEAR <= value.year <= MAX_YEAR):
            self.fail(name, f"Use a date between the years {MIN_YEAR} and {MAX_YEAR}.")
            return None
        return value

    def boolean(self, data: dict, name: str, default: bool = False) -> bool:
        value = data.get(name, default)
        if isinstance(value, bool):
            return value
        if value in (None, ""):
            return default
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "y"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off", "n"):
            return False
        self.fail(name, "Must be true or false.")
        return default


def unknown_fields(data: dict, allowed: set[str]) -> dict[str, str]:
    return {k: "Unknown field." for k in data if k not in allowed}


def check_url(c: Checker, name: str, value: str) -> str:
    if value:
        try:
            parsed = urlparse(value)
        except ValueError:  # e.g. https://[not-an-ip]/: urllib checks bracketed hosts and raises (was a 500)
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            c.fail(name, "Use a full web address starting with https://.")
    return value



def clean_event(data: dict, *, current: Event | None) -> dict:
    c = Checker()
    c.errors.update(unknown_fields(data, EVENT_FIELDS))
    out: dict = {}
    creating = current is None
    if creating or "title" in data:
        out["title"] = c.text(data, "title", 200, required=True)
    if "slug" in data and data.get("slug") not in (None, ""):
        slug = c.text(data, "slug", 120)
        if slug is not None and not SLUG_RE.match(slug):
            c.fail("slug", "Use lower-case letters, digits and single hyphens, e.g. spring-breakfast-2027.")
        out["slug"] = slug
    for name, max_len, multiline in (("summary", 300, False), ("description", 20_000, True),
                                     ("venue_name", 200, False), ("venue_address", 500, True)):
        if creating or name in data:
            out[name] = c.text(data, name, max_len, multiline=multiline)
    if creating or "online_url" in data:
        out["online_url"] = check_url(c, "online_url", c.text(data, "online_url", 500) or "")
    if creating or "terms_url" in data:
        out["terms_url"] = check_url(c, "terms_url", c.text(data, "terms_url", 500) or "")
    if creating or "timezone" in data:
        tz = c.text(data, "timezone", 64, required=True)
        if tz and tz not in timezones():
            c.fail("timezone", "Choose a time zone from the list, e.g. Europe/Berlin.")
        out["timezone"] = tz
    for name in ("starts_at", "ends_at"):
        if creating or name in data:
            out[name] = c.moment(data, name, required=True)
    for name in ("registration_opens_at", "registration_closes_at"):
        if name in data:
            out[name] = c.moment(data, name)
    if "capacity" in data:
        out["capacity"] = c.integer(data, "capacity", minimum=0, maximum=1_000_000)
    # Payments (see payments/policy.py): seat hold while paying, and the refund policy. Empty = default.
    if "hold_minutes" in data:
        out["hold_minutes"] = c.integer(data, "hold_minutes", minimum=5, maximum=1440)
    if "refund_until_days_before" in data:
        out["refund_until_days_before"] = c.integer(data, "refund_until_days_before", minimum=0, maximum=365)
    if creating or "currency" in data:
        currency = (data.get("currency") or (current.currency if current else "USD"))
        currency = currency.strip().upper() if isinstance(currency, str) else currency
        if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
            c.fail("currency", "Use a three-letter currency code, e.g. USD or EUR.")
        out["currency"] = currency
    if "cover_image" in data:
        name = data.get("cover_image")
        if name not in (None, "") and not (isinstance(name, str) and STORED_NAME_RE.match(name)):
            c.fail("cover_image", "Upload the image through the event editor.")
        out["cover_image"] = name or None
    if "status" in data:
        allowed = {"draft", "published"} if creating else {"draft", "published", "cancelled"}
        if not isinstance(data["status"], str) or data["status"] not in allowed:
            c.fail("status", "Must be one of: " + ", ".join(sorted(allowed)) + ".")
        else:
            out["status"] = EventStatus(data["status"])

    starts = out.get("starts_at", current.starts_at if current else None)
    ends = out.get("ends_at", current.ends_at if current else None)
    if starts and ends and ends <= starts and "starts_at" not in c.errors and "ends_at" not in c.errors:
        c.fail("ends_at", "The end must be after the start.")
    opens = out.get("registration_opens_at", current.registration_opens_at if current else None)
    closes = out.get("registration_closes_at", current.registration_closes_at if current else None)
    if opens and closes and closes <= opens:
        c.fail("registration_closes_at", "Registration must close after it opens.")
    if "capacity" in out and current is not None and out["capacity"] is not None and out["capacity"] < current.sold:
        c.fail("capacity", f"{current.sold} tickets are already sold; capacity cannot be lower.")
    c.raise_if_any()
    return out


def validate_event(data: dict, *, current: Event | None = None) -> dict:
    """Check event fields without saving (raises ValidationError like create_event/update_event)."""
    return clean_event(data, current=current)



def clean_ticket_type(data: dict, *, event: Event, current: TicketType | None) -> dict:
    c = Checker()
    c.errors.update(unknown_fields(data, TICKET_TYPE_FIELDS))
    creating = current is None
    out: dict = {}
    if creating or "name" in data:
        out["name"] = c.text(data, "name", 120, required=True)
    if creating or "description" in data:
        out["description"] = c.text(data, "description", 500)
    if creating or "price_cents" in data:
        out["price_cents"] = c.integer(data, "price_cents", minimum=0, maximum=100_000_000, required=True)
    if creating or "capacity" in data:
        out["capacity"] = c.integer(data, "capacity", minimum=0, maximum=1_000_000, required=True)
        if current is not None and out["capacity"] is not None and out["capacity"] < current.sold:
            c.fail("capacity", f"{current.sold} are already sold; capacity cannot be lower.")
    if creating or "currency" in data:
        currency = data.get("currency") or event.currency
        currency = currency.strip().upper() if isinstance(currency, str) else currency
        if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
            c.fail("currency", "Use a three-letter currency code, e.g. USD or EUR.")
        out["currency"] = currency
    for name in ("sales_start", "sales_end"):
        if name in data:
            out[name] = c.moment(data, name)
    if "hidden" in data:
        out["hidden"] = c.boolean(data, "hidden")
    if "position" in data:
        out["position"] = c.integer(data, "position", minimum=0, maximum=10_000) or 0
    if creating or "max_per_order" in data:
        value = c.integer(data, "max_per_order", minimum=1, maximum=100)
        out["max_per_order"] = value if value is not None else 10
    start = out.get("sales_start", current.sales_start if current else None)
    end = out.get("sales_end", current.sales_end if current else None)
    if start and end and end <= start:
        c.fail("sales_end", "Sales must end after they start.")
    if current is not None and current.sold and "price_cents" in out and out["price_cents"] != current.price_cents:
        c.fail("price_cents", "Tickets of this type are already sold; create a new ticket type for a new price.")
    c.raise_if_any()
    return out


def validate_ticket_type(event: Event, data: dict, *, current: TicketType | None = None) -> dict:
    """Check ticket-type fields without saving (raises ValidationError like add/update_ticket_type)."""
    return clean_ticket_type(data, event=event, current=current)



def clean_question(data: dict, *, current: Question | None) -> dict:
    c = Checker()
    c.errors.update(unknown_fields(data, QUESTION_FIELDS))
    creating = current is None
    out: dict = {}
    if creating or "label" in data:
        out["label"] = c.text(data, "label", 300, required=True)
    if creating or "kind" in data:
        try:
            out["kind"] = QuestionKind(data.get("kind"))
        except ValueError:
            c.fail("kind", "Choose one of: " + ", ".join(k.value for k in QuestionKind) + ".")
    if "required" in data:
        out["required"] = c.boolean(data, "required")
    if "show_at_door" in data:
        out["show_at_door"] = c.boolean(data, "show_at_door")
    if "position" in data:
        out["position"] = c.integer(data, "position", minimum=0, maximum=10_000) or 0
    if "options" in data:
        raw = data.get("options") or []
        if isinstance(raw, str):
            raw = [line for line in raw.splitlines()]
        if not isinstance(raw, list) or not all(isinstance(o, str) for o in raw):
            c.fail("options", "Give the options as a list of text.")
            raw = []
        options = [o.strip() for o in raw if o.strip()]
        if len(options) > 50:
            c.fail("options", "Use at most 50 options.")
        elif any(len(o) > 200 or CONTROL_RE.search(o) for o in options):
            c.fail("options", "Each option must be plain text of at most 200 characters.")
        elif len(set(options)) != len(options):
            c.fail("options", "Each option must be different.")
        out["options"] = options
    kind = out.get("kind", current.kind if current else None)
    options = out.get("options", current.options if current else [])
    if kind is not None and kind.has_options and len(options or []) < 2:
        c.fail("options", "A choice question needs at least two options, one per line.")
    if kind is not None and not kind.has_options:
        out["options"] = []
    c.raise_if_any()
    return out


