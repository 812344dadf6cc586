"""The registration form of one event, built for it: `registration_form(event, ...)` makes a
`forms.RegistrationForm` subclass with the event's own fields.

Those are `name`, `email`, one `quantity-<ticket type id>` select per visible ticket type on sale,
`question-<id>` for each of the event's questions, the attendee of each extra ticket
(`attendee-<i>-name` / `attendee-<i>-email`, i = 1 for the second ticket), `consent` when the event
has terms, and the fields of the `form_sections` other domains add. The field names are the ones
PRODUCT.md and `registration.services` use, so the services' `ValidationError.errors` land next to
their fields.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    EmailField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice

from eventsite.events.display import (
    price_label,
    ticket_availability,
    visible_ticket_types,
)
from eventsite.events.models import Event, QuestionKind
from eventsite.registration.forms import (
    AttendeeSlot,
    Marked,
    MultiCheckboxField,
    RegistrationForm,
    TicketRow,
    posted_attendee_count,
    quantities_from,
)
from eventsite.registration.services import ticket_slots
from eventsite.registration.validation import (
    EMAIL_MAX,
    LONG_TEXT_MAX,
    MAX_TICKETS_PER_ORDER,
    NAME_MAX,
    SHORT_TEXT_MAX,
)

# Parts of the form that higher domains add (connections: the optional networking profile). Each is
# an object with `fields(event)` -> {name: unbound field} (empty: not on this event's form),
# `template` (included inside the form, after the questions) and `save(order, form)`, which the view
# calls in the registration's transaction once the order exists (a ValidationError keyed by the
# section's own field names rolls the registration back and lands next to those fields).
form_sections: list = []


def registration_form(
    event: Event, *, now: datetime, formdata=None, payments_available: bool = True
) -> RegistrationForm:
    """The registration form of `event`: the posted `formdata`, or a fresh form when it is None."""
    rows: list[TicketRow] = []
    attrs: dict[str, Any] = {}
    for tt in visible_ticket_types(event):
        availability = ticket_availability(tt, event, now)
        name = None
        if availability.can_buy:
            name = f"quantity-{tt.id}"
            most = min(tt.max_per_order, availability.remaining, MAX_TICKETS_PER_ORDER)
            attrs[name] = SelectField(tt.name, choices=[SelectChoice(str(n), str(n)) for n in range(most + 1)],
                                      default="0", validate_choice=False)
        rows.append(TicketRow(tt, price_label(tt), availability, name,
                              paid_unavailable=bool(name) and tt.price_cents > 0 and not payments_available))
    buyable = [r for r in rows if r.field_name]
    if len(buyable) == 1:
        attrs[buyable[0].field_name].kwargs["default"] = "1"

    question_names = []
    for q in event.questions:
        name = f"question-{q.id}"
        question_names.append(name)
        validators = [Marked()] if q.required else []
        choices = [SelectChoice(o, o) for o in q.options or []]
        if q.kind == QuestionKind.LONG_TEXT:
            attrs[name] = TextAreaField(q.label, validators, render_kw={"rows": 4, "maxlength": LONG_TEXT_MAX})
        elif q.kind == QuestionKind.SINGLE_CHOICE:
            attrs[name] = RadioField(q.label, validators, choices=choices, validate_choice=False)
        elif q.kind == QuestionKind.MULTIPLE_CHOICE:
            # No `required` on each box (that would mean "tick every one"); the group is marked below.
            attrs[name] = MultiCheckboxField(q.label, choices=choices, validate_choice=False)
        elif q.kind == QuestionKind.CHECKBOX:
            attrs[name] = BooleanField(q.label, validators)
        else:
            attrs[name] = StringField(q.label, validators, render_kw={"maxlength": SHORT_TEXT_MAX})

    data = formdata if formdata is not None else MultiDict()
    slots = ticket_slots(event, quantities_from(data))
    count = max(len(slots) - 1, posted_attendee_count(data)) if formdata is not None else 0
    attendee_slots = []
    for i in range(1, min(count, MAX_TICKETS_PER_ORDER - 1) + 1):
        type_name = slots[i].name if i < len(slots) else None
        attendee_slots.append(AttendeeSlot(i, type_name))
        attrs[f"attendee-{i}-name"] = StringField(
            f"Ticket {i + 1}: attendee's name", [Marked()], render_kw={"autocomplete": "off", "maxlength": NAME_MAX})
        attrs[f"attendee-{i}-email"] = EmailField(
            f"Ticket {i + 1}: attendee's email (optional)",
            render_kw={"autocomplete": "off", "maxlength": EMAIL_MAX, "spellcheck": "false", "autocapitalize": "none"})

    if event.terms_url:
        attrs["consent"] = BooleanField("I agree to the organizer's terms and conditions", [Marked()])

    sections = []
    for section in form_sections:
        extra = section.fields(event)
        if extra:
            attrs.update(extra)
            sections.append((section, list(extra)))

    form_class = type("EventRegistrationForm", (RegistrationForm,), attrs)
    form = form_class(formdata=formdata)  # None: a fresh form with its defaults
    form._formdata = data
    form.event = event
    form.rows = rows
    form.question_names = question_names
    form.attendee_slots = attendee_slots
    form.has_consent = bool(event.terms_url)
    form.sections = [section for section, _ in sections]
    form.section_names = [name for _, names in sections for name in names]
    form.section_fields = {id(section): names for section, names in sections}
    form.fresh = formdata is None
    for q in event.questions:
        if q.required and q.kind == QuestionKind.MULTIPLE_CHOICE:
            form[f"question-{q.id}"].flags.required = True
    return form
