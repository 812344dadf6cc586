"""The public registration form and the ticket page's rename form.

`RegistrationForm` is what every event's registration form does; `form_builder.registration_form`
builds one for an event, with its fields (the field names are listed there: the ones PRODUCT.md and
`registration.services` use, so the services' `ValidationError.errors` land next to their fields).

The form does not validate what the services validate (names, emails, quantities, answers): it
reads the posted values, hands them over as they came, and shows what the services said. It checks
only what is the form's own business: the consent box, whether the paid tickets asked for can be
paid online, and whether the names of the extra attendees were asked for yet (the no-JavaScript
second step). WTForms renders the fields (labels, `aria-describedby` through the `field()` macro,
what she typed kept); `validate()` is never called. CSRF is checked app-wide by `CSRFProtect`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from flask import render_template
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import EmailField, SelectMultipleField, StringField
from wtforms.widgets import CheckboxInput, ListWidget

from eventsite.core.forms import ServiceForm
from eventsite.events.display import Availability
from eventsite.events.models import Event, QuestionKind, TicketType
from eventsite.registration.services import ticket_slots
from eventsite.registration.validation import (
    CONSENT_MISSING,
    EMAIL_MAX,
    MAX_TICKETS_PER_ORDER,
    NAME_MAX,
)

_ATTENDEE_KEY = re.compile(r"^attendee-(\d{1,3})-(name|email)$")
_QUANTITY_KEY = re.compile(r"^quantity-(.{1,20})$")

PAYMENT_UNAVAILABLE = (
    "Online payment is not available yet, so “{name}” cannot be booked here. "
    "Choose a free ticket, or ask the organizer how to pay."
)

_SECTION_CACHE: dict[tuple, Markup] = {}
_SECTION_CACHE_MAX = 256


class Marked:
    """Marks a field as required (the asterisk, and `required` for assistive technology; the form
    has `novalidate`). The services check it: this validator never runs."""

    field_flags = {"required": True}

    def __call__(self, form, field):  # pragma: no cover - validate() is never called
        return None


class MultiCheckboxField(SelectMultipleField):
    """One checkbox per option (the `field()` macro renders it as a fieldset)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


@dataclass
class TicketRow:
    """One visible ticket type on the form: a select when it can be bought, else just its state."""

    ticket_type: TicketType
    price: str
    availability: Availability
    field_name: str | None  # `quantity-<id>` when on sale, else None
    paid_unavailable: bool = False  # paid, and online payment is not there yet

    @property
    def anchor(self) -> str:
        return self.field_name or f"ticket-type-{self.ticket_type.id}"


@dataclass
class AttendeeSlot:
    index: int  # i in `attendee-<i>-*`; ticket number i + 1
    ticket_type_name: str | None


class RegistrationForm(FlaskForm):
    """Use `registration_form(event, ...)`, which adds the event's own fields."""

    name = StringField("Your name", [Marked()], render_kw={"autocomplete": "name", "maxlength": NAME_MAX})
    email = EmailField(
        "Your email", [Marked()],
        description="Your tickets and the link to your ticket page are sent here.",
        render_kw={"autocomplete": "email", "maxlength": EMAIL_MAX, "spellcheck": "false", "autocapitalize": "none"},
    )

    # Filled in by form_builder.registration_form().
    event: Event
    rows: list[TicketRow]
    question_names: list[str]
    attendee_slots: list[AttendeeSlot]
    has_consent: bool

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra_errors: dict[str, list[str]] = {}  # errors of fields that are not on the form
        self.already_registered = False
        self.sections: list = []  # the form_sections on this event's form
        self.section_names: list[str] = []  # their fields, in order
        self.section_fields: dict[int, list[str]] = {}  # id(section) -> its field names
        self.fresh = True  # nothing posted: every visitor of the event sees the same fields

    def render_section(self, section) -> Markup:
        """A section's part of the form (its `template`, given `form`).

        A fresh form's section is the same for every visitor of the event, and rendering its fields
        (the networking profile: a dozen fields and two lists of tag checkboxes) was a quarter of the
        event page's time. So it is rendered once per process and kept, keyed by everything the
        fields show (names, ids, labels, choices, descriptions); a changed tag list is a new key."""
        if not self.fresh:
            return Markup(render_template(section.template, form=self))
        key = (section.template, *(
            (name, self[name].id, str(self[name].label.text), str(self[name].description),
             repr(getattr(self[name], "choices", None)), repr(self[name].default))
            for name in self.section_fields.get(id(section), [])
        ))
        html = _SECTION_CACHE.get(key)
        if html is None:
            if len(_SECTION_CACHE) >= _SECTION_CACHE_MAX:
                _SECTION_CACHE.clear()
            html = _SECTION_CACHE[key] = Markup(render_template(section.template, form=self))
        return html

    # --- what she asked for, as the services take it ---------------------------------------------

    def quantities(self) -> dict[str, str]:
        """Every posted `quantity-<x>`, as posted: the service refuses hidden and foreign types."""
        return quantities_from(self._formdata)

    def answers(self) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for q in self.event.questions:
            f = self[f"question-{q.id}"]
            if q.kind == QuestionKind.MULTIPLE_CHOICE:
                out[q.id] = list(f.data or [])
            elif q.kind == QuestionKind.CHECKBOX:
                out[q.id] = bool(f.data)
            else:
                out[q.id] = f.data
        return out

    def attendees(self) -> list[dict[str, str | None]]:
        return [
            {"name": self._formdata.get(f"attendee-{i}-name"), "email": self._formdata.get(f"attendee-{i}-email")}
            for i in range(1, posted_attendee_count(self._formdata) + 1)
        ]

    def service_arguments(self) -> dict[str, Any]:
        """Keyword arguments for `register_attendees`."""
        return {
            "buyer_name": self.name.data or "",
            "buyer_email": self.email.data or "",
            "quantities": self.quantities(),
            "attendees": self.attendees(),
            "answers": self.answers(),
            "terms_accepted": bool(self.has_consent and self.consent.data),
        }

    # --- the form's own checks ---------------------------------------------------------------------

    def needs_attendee_names(self) -> bool:
        """More than one ticket asked for, but the attendees' name fields were never shown (no
        JavaScript): the second step asks for them before anything is written. Only for quantities
        the form itself offered; anything else goes straight to the service, which explains it."""
        offered = {row.field_name: self[row.field_name] for row in self.rows if row.field_name}
        for key, value in self.quantities().items():
            f = offered.get(f"quantity-{key}")
            if f is None or value not in [choice.value for choice in f.choices]:
                return False
        return any(f"attendee-{slot.index}-name" not in self._formdata for slot in self.wanted_slots())

    def check_payment(self, *, payments_available: bool) -> bool:
        """False (with a message on the quantity field) when paid tickets are asked for while
        online payment is not there yet."""
        if payments_available:
            return True
        ok = True
        wanted = self.quantities()
        for row in self.rows:
            if row.field_name and row.ticket_type.price_cents > 0 and _int(wanted.get(str(row.ticket_type.id))) > 0:
                self.add_error(row.field_name, PAYMENT_UNAVAILABLE.format(name=row.ticket_type.name))
                ok = False
        return ok

    def check_consent(self) -> bool:
        if self.has_consent and not self.consent.data:
            self.consent.errors = [*self.consent.errors, CONSENT_MISSING]
            return False
        return True

    # --- errors ------------------------------------------------------------------------------------

    def add_error(self, name: str, message: str) -> None:
        f = self._fields.get(name)
        if f is not None and name != "csrf_token":
            f.errors = [*f.errors, message]
        elif name == "__all__":
            self.form_errors.append(message)
        else:
            self.extra_errors.setdefault(name, []).append(message)

    def apply_errors(self, errors: Mapping[str, str]) -> None:
        for name, message in errors.items():
            self.add_error(name, message)

    def messages(self, name: str) -> list[str]:
        f = self._fields.get(name)
        return list(f.errors) if f is not None else self.extra_errors.get(name, [])

    def summary(self) -> list[tuple[str | None, str]]:
        """(anchor id or None, text) for the error summary, in the order of the page."""
        out: list[tuple[str | None, str]] = [(None, m) for m in self.form_errors]
        placed: set[str] = set()

        def add(name: str, anchor: str | None, label: str) -> None:
            placed.add(name)
            for m in self.messages(name):
                out.append((anchor, f"{label}: {m}" if label else m))

        buyable = [r for r in self.rows if r.field_name]
        add("quantity", buyable[0].anchor if buyable else "tickets", "Tickets")
        for row in self.rows:
            add(f"quantity-{row.ticket_type.id}", row.anchor, row.ticket_type.name)
        for name in ["name", "email", *self.attendee_field_names(), *self.question_names, *self.section_names,
                     *(["consent"] if self.has_consent else [])]:
            f = self[name]
            choices = f.type in ("RadioField", "MultiCheckboxField")
            add(name, f"{f.id}-0" if choices else f.id, f.label.text)
        for name, messages in self.extra_errors.items():  # e.g. a hidden or foreign ticket type
            if name not in placed:
                out.extend((None, m) for m in messages)
        return out

    def save_sections(self, order) -> None:
        """Each added section stores its part (in the registration's transaction)."""
        for section in self.sections:
            section.save(order, self)

    # --- attendees ---------------------------------------------------------------------------------

    def wanted_slots(self) -> list[AttendeeSlot]:
        """The extra tickets of what was asked for (slot 0, the buyer's own ticket, left out)."""
        slots = ticket_slots(self.event, self.quantities())
        return [AttendeeSlot(i, slots[i].name) for i in range(1, min(len(slots), MAX_TICKETS_PER_ORDER))]

    def attendee_field_names(self) -> list[str]:
        return [f"attendee-{s.index}-{part}" for s in self.attendee_slots for part in ("name", "email")]


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def quantities_from(formdata: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in formdata:
        m = _QUANTITY_KEY.match(key)
        if m:
            out[m.group(1)] = formdata.get(key)
    return out


def posted_attendee_count(formdata: Mapping[str, Any]) -> int:
    """The highest `attendee-<i>-*` posted (capped): extras beyond the tickets chosen are reported."""
    indexes = [int(m.group(1)) for key in formdata if (m := _ATTENDEE_KEY.match(key))]
    return min(max(indexes, default=0), MAX_TICKETS_PER_ORDER)


@dataclass
class Panel:
    """What the event page's `registration` block shows (see templates/registration/_form.html)."""

    form: RegistrationForm | None  # None: registration is not open, or nothing can be bought now
    waitlist: bool = False  # sold out while registration is open: the waitlist is offered
    step_two: bool = False  # no JavaScript: the extra attendees' names are asked for now
    messages: list[str] = dc_field(default_factory=list)  # refusals that belong to no field


# --- the ticket page ---------------------------------------------------------------------------

class RenameForm(ServiceForm):
    """Put another person's name on one ticket. Field names are the service's (`name`, `email`)."""

    name = StringField("Attendee's name", [Marked()], render_kw={"maxlength": NAME_MAX, "autocomplete": "off"})
    email = EmailField("Attendee's email (optional)",
                       render_kw={"maxlength": EMAIL_MAX, "autocomplete": "off", "spellcheck": "false",
                                  "autocapitalize": "none"})

    def for_ticket(self, n: int) -> RenameForm:
        """Unique ids on a page with one form per ticket (names unchanged)."""
        for f in self:
            if f.name != "csrf_token":
                f.id = f.label.field_id = f"ticket-{n}-{f.name}"
        return self

