"""Event rules: create, edit, publish and cancel events; ticket types; questions.

Every function takes plain values (the form and the API both call them), validates them, raises
`ValidationError({field: message})` on bad input, and flushes. The caller commits once.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import urlparse
from zoneinfo import available_timezones

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from eventsite.accounts.models import User
from eventsite.core.db import utcnow
from eventsite.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from eventsite.core.text import SLUG_RE, slugify
from eventsite.events.access import MANAGERS
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
from eventsite.extensions import db

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

class _Checker:
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
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
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


def _unknown(data: dict, allowed: set[str]) -> dict[str, str]:
    return {k: "Unknown field." for k in data if k not in allowed}


def _check_url(c: _Checker, name: str, value: str) -> str:
    if value:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            c.fail(name, "Use a full web address starting with https://.")
    return value


# --- events ------------------------------------------------------------------------------------

def _clean_event(data: dict, *, current: Event | None) -> dict:
    c = _Checker()
    c.errors.update(_unknown(data, EVENT_FIELDS))
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
        out["online_url"] = _check_url(c, "online_url", c.text(data, "online_url", 500) or "")
    if creating or "terms_url" in data:
        out["terms_url"] = _check_url(c, "terms_url", c.text(data, "terms_url", 500) or "")
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
    return _clean_event(data, current=current)


def unique_slug(title: str, *, exclude_id: int | None = None) -> str:
    base = slugify(title, 80)
    slug, n = base, 1
    while _slug_taken(slug, exclude_id):
        n += 1
        slug = f"{base}-{n}"
    return slug


def _slug_taken(slug: str, exclude_id: int | None) -> bool:
    if slug in RESERVED_SLUGS:
        return True
    q = select(func.count()).select_from(Event).where(Event.slug == slug)
    if exclude_id is not None:
        q = q.where(Event.id != exclude_id)
    return bool(db.session.scalar(q))


def organization_for_new_event(user: User, organization_slug: str | None = None) -> int:
    """The organization a new event of `user` goes to: the one she names by slug, or the only one
    where she is owner or organizer. ValidationError on `organization` when that is ambiguous or not
    hers; PermissionDeniedError when she manages none."""
    managed = sorted((m.organization for m in user.memberships if m.role in MANAGERS), key=lambda o: o.slug)
    if organization_slug is not None:
        match = next((o for o in managed if o.slug == organization_slug), None)
        if match is None:
            raise ValidationError({"organization": "You are not an owner or organizer of an organization with this slug."})
        return match.id
    if not managed:
        raise PermissionDeniedError("Only owners and organizers can create events.")
    if len(managed) > 1:
        raise ValidationError({"organization": "You belong to several organizations; give the slug of one of: "
                                               + ", ".join(o.slug for o in managed) + "."})
    return managed[0].id


def create_event(organization_id: int, data: dict, *, actor: User | None) -> Event:
    """A new event of `organization_id`, a draft unless data['status'] == 'published'.

    With an `actor`, she must be an owner or organizer of that organization.
    """
    if actor is not None:
        membership = actor.membership_in(organization_id)
        if membership is None or membership.role not in MANAGERS:
            raise PermissionDeniedError("You cannot create events for this organization.")
    clean = _clean_event(data, current=None)
    if clean.get("slug"):
        if _slug_taken(clean["slug"], None):
            raise ValidationError({"slug": "This address is taken; choose another."})
    else:
        clean["slug"] = unique_slug(clean["title"])
    event = Event(organization_id=organization_id, **clean)
    db.session.add(event)
    db.session.flush()
    return event


def update_event(event: Event, changes: dict, *, actor: User | None) -> Event:
    """Change any fields. Times may move at any moment, into the past too (the record gets corrected)."""
    clean = _clean_event(changes, current=event)
    if clean.get("slug") and clean["slug"] != event.slug and _slug_taken(clean["slug"], event.id):
        raise ValidationError({"slug": "This address is taken; choose another."})
    status = clean.pop("status", None)
    if status is not None and status != event.status and event.status == EventStatus.CANCELLED:
        raise ConflictError("A cancelled event cannot be published or made a draft again.", code="cancelled")
    for key, value in clean.items():
        if key == "slug" and not value:
            continue
        setattr(event, key, value)
    db.session.flush()
    # Status changes go through the same functions as the buttons, so their rules and callbacks apply.
    if status == EventStatus.CANCELLED:
        cancel_event(event, actor=actor)
    elif status == EventStatus.PUBLISHED:
        publish_event(event, actor=actor)
    elif status == EventStatus.DRAFT:
        unpublish_event(event, actor=actor)
    return event


def publish_event(event: Event, *, actor: User | None) -> Event:
    if event.status == EventStatus.CANCELLED:
        raise ConflictError("A cancelled event cannot be published again.", code="cancelled")
    event.status = EventStatus.PUBLISHED
    db.session.flush()
    return event


def unpublish_event(event: Event, *, actor: User | None) -> Event:
    if event.status == EventStatus.CANCELLED:
        raise ConflictError("A cancelled event cannot go back to draft.", code="cancelled")
    event.status = EventStatus.DRAFT
    db.session.flush()
    return event


# Higher domains (registration) react to a cancellation through this list of callbacks
# (fn(event, actor)): they cancel orders and queue emails in the same transaction.
on_event_cancelled: list = []


def cancel_event(event: Event, *, actor: User | None) -> Event:
    if event.status == EventStatus.CANCELLED:
        return event
    event.status = EventStatus.CANCELLED
    db.session.flush()
    for callback in on_event_cancelled:
        callback(event, actor)
    return event


def upcoming_public_events(now: datetime | None = None, limit: int = 100) -> list[Event]:
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Event)
            .where(Event.status == EventStatus.PUBLISHED, Event.ends_at > now)
            .options(selectinload(Event.ticket_types))
            .order_by(Event.starts_at, Event.id)
            .limit(limit)
        )
    )


def events_managed_by(user: User, *, status: EventStatus | None = None) -> list[Event]:
    """Events of every organization where `user` is owner or organizer, soonest first."""
    from eventsite.accounts.models import Membership

    orgs = select(Membership.organization_id).where(Membership.user_id == user.id, Membership.role.in_(MANAGERS))
    query = (
        select(Event)
        .where(Event.organization_id.in_(orgs))
        .options(selectinload(Event.ticket_types), joinedload(Event.organization))
    )
    if status is not None:
        query = query.where(Event.status == status)
    return list(db.session.scalars(query.order_by(Event.starts_at, Event.id)))


def public_event(slug: str) -> Event:
    """A published or cancelled event by slug; drafts are not public."""
    if not isinstance(slug, str) or not SLUG_RE.match(slug) or len(slug) > 120:
        raise NotFoundError("No such event.")
    event = db.session.scalar(
        select(Event)
        .where(Event.slug == slug)
        .options(selectinload(Event.ticket_types), joinedload(Event.organization))
    )
    if event is None or not event.is_public:
        raise NotFoundError("No such event.")
    return event


# --- ordering (ticket types and questions share it) ---------------------------------------------

def _next_position(items) -> int:
    return max((item.position for item in items), default=-1) + 1


def _move(items: list, item, offset: int) -> None:
    """Move `item` by `offset` places among `items`; renumber them 0..n-1.

    Sorted here rather than trusting the loaded collection's order, which goes stale once positions change.
    """
    ordered = sorted(items, key=lambda each: (each.position, each.id or 0))
    index = ordered.index(item)
    target = min(max(index + offset, 0), len(ordered) - 1)
    ordered.insert(target, ordered.pop(index))
    for position, each in enumerate(ordered):
        if each.position != position:
            each.position = position
    db.session.flush()


# --- ticket types ------------------------------------------------------------------------------

def _clean_ticket_type(data: dict, *, event: Event, current: TicketType | None) -> dict:
    c = _Checker()
    c.errors.update(_unknown(data, TICKET_TYPE_FIELDS))
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
    return _clean_ticket_type(data, event=event, current=current)


def add_ticket_type(event: Event, data: dict, *, actor: User | None) -> TicketType:
    clean = _clean_ticket_type(data, event=event, current=None)
    if "position" not in clean:
        clean["position"] = _next_position(event.ticket_types)
    tt = TicketType(event=event, **clean)
    db.session.add(tt)
    db.session.flush()
    return tt


def update_ticket_type(tt: TicketType, changes: dict, *, actor: User | None) -> TicketType:
    for key, value in _clean_ticket_type(changes, event=tt.event, current=tt).items():
        setattr(tt, key, value)
    db.session.flush()
    return tt


def move_ticket_type(tt: TicketType, offset: int, *, actor: User | None) -> TicketType:
    """Move a ticket type up (offset -1) or down (+1) in the event's list."""
    _move(tt.event.ticket_types, tt, offset)
    return tt


def delete_ticket_type(tt: TicketType, *, actor: User | None) -> None:
    if tt.sold:
        raise ConflictError("Tickets of this type are sold; hide it instead of deleting it.", code="has_sales")
    try:
        with db.session.begin_nested():  # tickets (even cancelled ones) still refer to it: keep it
            db.session.delete(tt)
            db.session.flush()
    except IntegrityError:
        raise ConflictError(
            "Tickets of this type exist (some may be cancelled); hide it instead of deleting it.", code="has_sales"
        ) from None


# --- questions ---------------------------------------------------------------------------------

def _clean_question(data: dict, *, current: Question | None) -> dict:
    c = _Checker()
    c.errors.update(_unknown(data, QUESTION_FIELDS))
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


def add_question(event: Event, data: dict, *, actor: User | None) -> Question:
    clean = _clean_question(data, current=None)
    if "position" not in clean:
        clean["position"] = _next_position(event.questions)
    question = Question(event=event, **clean)
    db.session.add(question)
    db.session.flush()
    return question


def update_question(question: Question, changes: dict, *, actor: User | None) -> Question:
    for key, value in _clean_question(changes, current=question).items():
        setattr(question, key, value)
    db.session.flush()
    return question


def move_question(question: Question, offset: int, *, actor: User | None) -> Question:
    """Move a question up (offset -1) or down (+1) in the event's list."""
    _move(question.event.questions, question, offset)
    return question


def delete_question(question: Question, *, actor: User | None) -> None:
    db.session.delete(question)
    db.session.flush()
