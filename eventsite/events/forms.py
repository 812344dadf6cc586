"""Organizer forms for events, ticket types and questions.

A form parses what the browser sends (local date-times, decimal prices, one option per line) into
the plain dict the services in `events/services.py` take, and puts a service's
`ValidationError.errors` back next to the fields they belong to. Rules live in the services.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.fields import DateTimeLocalField, SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from eventsite.core.errors import ValidationError
from eventsite.core.forms import NumberRange  # not WTForms' own: survives 10**400
from eventsite.core.forms import ServiceForm as BaseServiceForm
from eventsite.core.text import ZERO_DECIMAL
from eventsite.events.models import Event, Question, QuestionKind, TicketType
from eventsite.events.uploads import delete_upload, max_size_label, store_image
from eventsite.events.validation import timezones

LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
COMMON_CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK", "PLN", "NZD", "JPY"]
PRICE_RE = re.compile(r"^\d{1,9}(?:[.,]\d{1,2})?$")
MARKDOWN_HINT = (
    "Markdown: **bold**, *italic*, [link text](https://example.org), a blank line between paragraphs, "
    "lines starting with - for a list, ## for a heading."
)


def local_datetime(label: str, *, required: bool = False, description: str = "") -> DateTimeLocalField:
    return DateTimeLocalField(
        label,
        [InputRequired("Enter a date and time.")] if required else [Optional()],
        format=LOCAL_FORMATS,
        invalid_value_message="Enter a date and time, e.g. 2027-03-08 18:30.",
        description=description,
    )


# --- local wall-clock time to UTC ---------------------------------------------------------------

class LocalTimeError(ValueError):
    """A wall-clock time that does not exist in the zone (the clocks jump over it)."""


def to_utc(local: datetime, zone: ZoneInfo) -> tuple[datetime, str | None]:
    """Interpret a naive wall-clock time in `zone`; return it in UTC and a note when it was ambiguous.

    A time the clocks skip (spring forward) is refused with a suggestion; a time that happens twice
    (fall back) is taken as its first occurrence, and the note says so.
    """
    local = local.replace(tzinfo=None, second=0, microsecond=0)
    first = local.replace(tzinfo=zone, fold=0)
    round_trip = first.astimezone(timezone.utc).astimezone(zone)
    if round_trip.replace(tzinfo=None) != local:
        # In the gap the clocks jump over, `round_trip` is the same moment on the far side (02:30 -> 03:30).
        raise LocalTimeError(
            f"{local:%H:%M} on {local:%d %b %Y} does not exist in {zone.key}: the clocks go forward "
            f"that night. Choose another time, e.g. {round_trip:%H:%M}."
        )
    note = None
    second = local.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        note = (
            f"{local:%H:%M} on {local:%d %b %Y} happens twice in {zone.key} (the clocks go back); "
            f"the first one was used, {first:%H:%M %Z} (UTC{first:%z})."
        )
    return first.astimezone(timezone.utc), note


def to_local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    """An aware datetime as the naive wall-clock time a datetime-local input shows."""
    return moment.astimezone(zone).replace(tzinfo=None) if moment else None


def zone_or_none(name: str | None) -> ZoneInfo | None:
    return ZoneInfo(name) if name and name in timezones() else None


# --- shared behaviour ---------------------------------------------------------------------------

class ServiceForm(BaseServiceForm):
    """A form whose data goes to one service: it maps the service's errors back onto its fields."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []

    def _utc(self, field, zone: ZoneInfo, errors: dict[str, str]) -> datetime | None:
        if field.data is None:
            return None
        try:
            moment, note = to_utc(field.data, zone)
        except LocalTimeError as e:
            errors[field.short_name] = str(e)
            return None
        if note:
            self.notes.append(f"{field.label.text}: {note}")
        return moment


# --- events -------------------------------------------------------------------------------------

class EventForm(ServiceForm):
    organization_id = SelectField("Organization", coerce=int, description="The organization this event belongs to.")
    title = StringField("Title", [InputRequired("Give the event a title."), Length(max=200)])
    slug = StringField(
        "Web address (slug)",
        [Optional(), Length(max=120)],
        description="The end of the public page's address, /events/<slug>. Lower-case letters, digits and "
        "hyphens. Leave empty to make one from the title.",
    )
    summary = StringField(
        "Summary", [Length(max=300)], description="One sentence shown in the list of events and in link previews."
    )
    description = TextAreaField("Description", [Length(max=20_000)], description=MARKDOWN_HINT,
                                render_kw={"rows": 10})
    starts_at = local_datetime("Starts", required=True)
    ends_at = local_datetime("Ends", required=True)
    timezone = StringField(
        "Time zone",
        [InputRequired("Choose the event's time zone."), Length(max=64)],
        description="Where the event happens, e.g. Europe/London or America/New_York. The times above are "
        "local times there.",
        render_kw={"list": "timezone-names", "autocomplete": "off", "spellcheck": "false"},
    )
    venue_name = StringField("Venue", [Length(max=200)])
    venue_address = TextAreaField("Venue address", [Length(max=500)], render_kw={"rows": 3},
                                  description="Used for the map link on the public page.")
    online_url = URLField("Online link", [Length(max=500)],
                          description="For an online or hybrid event: the address of the stream or meeting.")
    terms_url = URLField(
        "Terms and conditions (link)", [Length(max=500)],
        description="Optional: the address of your terms. When set, attendees must agree to them to register; "
        "the form links to them.",
    )
    capacity = IntegerField(
        "Total capacity",
        [Optional(), NumberRange(min=0, max=1_000_000, message="Enter a number from 0 to 1,000,000.")],
        description="Optional cap over all ticket types together. Leave empty for no overall cap.",
    )
    currency = StringField(
        "Currency", [InputRequired("Enter a currency code."), Length(min=3, max=3, message="Use a three-letter code.")],
        default="USD", description="Three-letter code (USD, EUR, GBP...), the default for new ticket types.",
        render_kw={"list": "currency-codes", "autocomplete": "off", "maxlength": 3},
    )
    refund_until_days_before = IntegerField(
        "Refunds until (days before the start)",
        [Optional(), NumberRange(min=0, max=365, message="Enter a number of days from 0 to 365.")],
        description="Paid tickets: an attendee who cancels at least this many days before the event starts gets "
        "a full refund (0: until the start). Leave empty for no refunds when an attendee cancels.",
    )
    hold_minutes = IntegerField(
        "Minutes to pay",
        [Optional(), NumberRange(min=5, max=1440, message="Enter a number of minutes from 5 to 1,440.")],
        description="Paid tickets: how long the seats are held while an attendee pays. Leave empty for the "
        "default (30). Card payment pages stay open at least 30 minutes.",
    )
    registration_opens_at = local_datetime(
        "Registration opens", description="Optional. Leave empty to open registration as soon as it is published."
    )
    registration_closes_at = local_datetime(
        "Registration closes", description="Optional. Leave empty to keep it open until the event ends."
    )
    cover_image = FileField(
        "Cover image",
        description="JPEG, PNG or WebP. Shown at the top of the event page (a wide picture works best).",
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )
    remove_cover = BooleanField("Remove the current cover image")

    TIME_FIELDS = ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at")
    TEXT_FIELDS = ("title", "slug", "summary", "description", "venue_name", "venue_address", "online_url",
                   "terms_url")

    def __init__(self, *args, organizations=(), event: Event | None = None, **kwargs):
        """`organizations`: those she may create events in; the choice is asked only when there are several."""
        if event is not None and "obj" not in kwargs:
            kwargs["obj"] = _EventValues(event)
        super().__init__(*args, **kwargs)
        self._stored_cover: str | None = None
        self.cover_image.description = f"JPEG, PNG or WebP, at most {max_size_label()}. " + self.cover_image.description
        if len(organizations) > 1:
            self.organization_id.choices = [SelectChoice(o.id, o.name) for o in organizations]
        else:
            self.fixed_organization_id = organizations[0].id if organizations else None
            del self.organization_id
        if event is None or not event.cover_image:
            del self.remove_cover
        if event is not None:
            self.slug.description = (
                f"The public page is at /events/{event.slug}. Changing this breaks links already shared; "
                "leave it empty to keep it."
            )

    def chosen_organization_id(self) -> int | None:
        if "organization_id" in self._fields:
            return self.organization_id.data
        return self.fixed_organization_id

    def service_data(self) -> dict:
        """The dict for create_event/update_event; stores an uploaded cover image.

        Raises ValidationError for times that do not exist in the chosen zone or a refused image.
        """
        data = {name: self[name].data or "" for name in self.TEXT_FIELDS}
        data["currency"] = (self.currency.data or "").strip().upper()
        data["capacity"] = self.capacity.data
        data["hold_minutes"] = self.hold_minutes.data
        data["refund_until_days_before"] = self.refund_until_days_before.data
        data["timezone"] = (self.timezone.data or "").strip()
        errors: dict[str, str] = {}
        zone = zone_or_none(data["timezone"])
        for name in self.TIME_FIELDS:
            # With an unknown zone the service reports it; UTC only lets the other fields be checked too.
            data[name] = self._utc(self[name], zone or ZoneInfo("UTC"), errors)
        if errors:
            raise ValidationError(errors)
        upload = self.cover_image.data
        if upload:
            self._stored_cover = store_image(upload.stream)
            data["cover_image"] = self._stored_cover
        elif "remove_cover" in self._fields and self.remove_cover.data:
            data["cover_image"] = None
        return data

    def reject(self, errors: dict[str, str]) -> None:
        """The service said no: show its errors and drop an image stored for this attempt."""
        delete_upload(self._stored_cover)
        self._stored_cover = None
        if self.cover_image.data and "cover_image" not in errors:
            errors = {**errors, "cover_image": "Choose the image again after correcting the other fields."}
        self.apply_errors(errors)


class _EventValues:
    """An event as the form's initial values: times as local wall-clock times in its zone."""

    def __init__(self, event: Event):
        zone = event.tz
        for name in EventForm.TEXT_FIELDS + ("timezone", "currency", "capacity", "hold_minutes",
                                             "refund_until_days_before"):
            setattr(self, name, getattr(event, name))
        for name in EventForm.TIME_FIELDS:
            setattr(self, name, to_local(getattr(event, name), zone))
        self.organization_id = event.organization_id
        self.cover_image = None
        self.remove_cover = False


# --- ticket types -------------------------------------------------------------------------------

def parse_price(text: str, currency: str) -> int:
    """'25.50' -> 2550 (cents) with Decimal, never a float. Raises ValueError with a message."""
    value = (text or "").strip()
    if not PRICE_RE.match(value):
        raise ValueError("Enter an amount like 25.00, or 0 for a free ticket.")
    amount = Decimal(value.replace(",", "."))
    if currency.upper() in ZERO_DECIMAL:
        if amount != amount.to_integral_value():
            raise ValueError(f"{currency.upper()} has no cents: enter a whole amount.")
        return int(amount)
    return int(amount * 100)


def format_price(cents: int, currency: str) -> str:
    if currency.upper() in ZERO_DECIMAL:
        return str(cents)
    return f"{Decimal(cents) / 100:.2f}"


class TicketTypeForm(ServiceForm):
    renames = {"price_cents": "price"}

    name = StringField("Name", [InputRequired("Give the ticket type a name."), Length(max=120)],
                       description="e.g. General admission, Early bird, Table of 8.")
    description = StringField("Description", [Length(max=500)], description="Optional, one line.")
    price = StringField("Price", [InputRequired("Enter a price, or 0 for a free ticket.")],
                        description="An amount like 25.00; 0 makes the ticket free.",
                        render_kw={"inputmode": "decimal", "autocomplete": "off"})
    currency = StringField("Currency", [InputRequired("Enter a currency code."), Length(min=3, max=3)],
                           render_kw={"list": "currency-codes", "autocomplete": "off", "maxlength": 3})
    capacity = IntegerField("Capacity", [InputRequired("Enter how many tickets of this type there are."),
                                         NumberRange(min=0, max=1_000_000, message="Enter a number from 0 to 1,000,000.")])
    max_per_order = IntegerField("Most per order", [InputRequired("Enter a number from 1 to 100."),
                                                    NumberRange(min=1, max=100, message="Enter a number from 1 to 100.")],
                                 default=10, description="How many of this type one person may buy at once.")
    sales_start = local_datetime("Sales start", description="Optional, in the event's time zone.")
    sales_end = local_datetime("Sales end", description="Optional, in the event's time zone.")
    hidden = BooleanField("Hidden", description="Hidden ticket types are not offered on the public page.")

    def __init__(self, *args, event: Event, ticket_type: TicketType | None = None, **kwargs):
        if "obj" not in kwargs:
            kwargs["obj"] = _TicketTypeValues(event, ticket_type)
        super().__init__(*args, **kwargs)
        self.event = event

    def service_data(self) -> dict:
        errors: dict[str, str] = {}
        currency = (self.currency.data or "").strip().upper()
        data: dict = {
            "name": self.name.data or "",
            "description": self.description.data or "",
            "currency": currency,
            "capacity": self.capacity.data,
            "max_per_order": self.max_per_order.data,
            "hidden": bool(self.hidden.data),
        }
        try:
            data["price_cents"] = parse_price(self.price.data, currency or self.event.currency)
        except ValueError as e:
            errors["price"] = str(e)
        for name in ("sales_start", "sales_end"):
            data[name] = self._utc(self[name], self.event.tz, errors)
        if errors:
            raise ValidationError(errors)
        return data


class _TicketTypeValues:
    def __init__(self, event: Event, tt: TicketType | None):
        self.currency = tt.currency if tt else event.currency
        if tt is None:
            self.max_per_order = 10
            return
        for name in ("name", "description", "capacity", "max_per_order", "hidden"):
            setattr(self, name, getattr(tt, name))
        self.price = format_price(tt.price_cents, tt.currency)
        self.sales_start = to_local(tt.sales_start, event.tz)
        self.sales_end = to_local(tt.sales_end, event.tz)


# --- questions ----------------------------------------------------------------------------------

class QuestionForm(ServiceForm):
    label = StringField("Question", [InputRequired("Write the question."), Length(max=300)],
                        description="What attendees see, e.g. Do you have dietary needs?")
    kind = SelectField("Kind of answer", choices=[SelectChoice(k.value, k.label) for k in QuestionKind],
                       default=QuestionKind.SHORT_TEXT.value)
    options = TextAreaField("Options", render_kw={"rows": 5},
                            description="For single and multiple choice: one option per line, at least two.")
    required = BooleanField("An answer is required")
    show_at_door = BooleanField("Show the answer at the door",
                                description="Door staff see it on the check-in screen (e.g. dietary needs, access).")

    def __init__(self, *args, question: Question | None = None, **kwargs):
        if question is not None and "obj" not in kwargs:
            kwargs["obj"] = _QuestionValues(question)
        super().__init__(*args, **kwargs)

    def service_data(self) -> dict:
        return {
            "label": self.label.data or "",
            "kind": self.kind.data,
            "options": self.options.data or "",
            "required": bool(self.required.data),
            "show_at_door": bool(self.show_at_door.data),
        }


class _QuestionValues:
    def __init__(self, q: Question):
        self.label = q.label
        self.kind = q.kind.value
        self.options = "\n".join(q.options or [])
        self.required = q.required
        self.show_at_door = q.show_at_door
