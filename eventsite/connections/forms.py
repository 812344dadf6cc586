"""Forms: the networking profile (on its own page and as a section of the registration form) and the
organizer's follow-up plan.

Like the registration form, these forms do not validate what the services validate (lengths,
markup, addresses, tags): they carry the input and put the services' `ValidationError.errors` next
to their fields. CSRF is checked app-wide by `CSRFProtect`.
"""
from __future__ import annotations

from typing import Any

from wtforms import (
    BooleanField,
    IntegerField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from eventsite.connections.cleaning import (
    COMPANY_MAX,
    INTRO_MAX,
    SENTENCE_MAX,
    TAGS_PER_SIDE,
    URL_MAX,
)
from eventsite.connections.models import STEPS, Audience
from eventsite.core.forms import ServiceForm

CONSENT_LABEL = "Suggest me to other attendees after the event"
CONSENT_HINT = ("The day after, we email you two or three people worth keeping in touch with, and suggest "
                "you to a few others. Your details are shared only with people you both agree to be "
                "introduced to. You can change your mind or delete your profile at any time.")


class MultiCheckboxField(SelectMultipleField):
    """One checkbox per option (the `field()` macro renders it as a fieldset)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def profile_fields(tags: list[str], *, prefix: str = "") -> dict[str, Any]:
    """The profile's fields, unbound, named `<prefix><name>` (names of profiles.PROFILE_FIELDS)."""
    choices = [SelectChoice(t, t) for t in tags]
    fields: dict[str, Any] = {
        "intro": StringField(
            "One line about you", description="For example: “Product lead at a health start-up, new to managing managers.”",
            render_kw={"maxlength": INTRO_MAX}),
        "company": StringField("Company or organization", render_kw={"maxlength": COMPANY_MAX, "autocomplete": "organization"}),
    }
    if tags:
        fields["offers"] = MultiCheckboxField(f"What you can offer (up to {TAGS_PER_SIDE})", choices=choices,
                                              validate_choice=False)
    fields["offers_text"] = StringField(
        "What you can offer, in a sentence", render_kw={"maxlength": SENTENCE_MAX},
        description="For example: “I have negotiated three raises and happily share how.”")
    if tags:
        fields["asks"] = MultiCheckboxField(f"What you are looking for (up to {TAGS_PER_SIDE})", choices=choices,
                                            validate_choice=False)
    fields["asks_text"] = StringField(
        "What you are looking for, in a sentence", render_kw={"maxlength": SENTENCE_MAX},
        description="For example: “Advice on joining a non-profit board.”")
    fields["linkedin_url"] = StringField(
        "LinkedIn profile (optional)", render_kw={"maxlength": URL_MAX, "inputmode": "url", "spellcheck": "false",
                                                  "autocapitalize": "none", "placeholder": "https://www.linkedin.com/in/…"},
        description="Shared only with people you are introduced to, like your email address.")
    fields["website_url"] = StringField(
        "Website (optional)", render_kw={"maxlength": URL_MAX, "inputmode": "url", "spellcheck": "false",
                                         "autocapitalize": "none", "placeholder": "https://…"})
    fields["consent"] = BooleanField(CONSENT_LABEL, description=CONSENT_HINT)
    return {prefix + name: f for name, f in fields.items()}


def profile_data(form, *, prefix: str = "") -> dict[str, Any]:
    """What the service takes, from a bound form (fields that are not there are left out)."""
    out: dict[str, Any] = {}
    for name in ("intro", "company", "offers", "offers_text", "asks", "asks_text", "linkedin_url", "website_url", "consent"):
        f = form._fields.get(prefix + name)
        if f is not None:
            out[name] = f.data
    return out


class ProfileFormBase(ServiceForm):
    """Use `profile_form(tags, ...)`."""


def profile_form(tags: list[str], *, formdata=None, profile=None) -> ProfileFormBase:
    form_class = type("ProfileForm", (ProfileFormBase,), profile_fields(tags))
    data = None
    if profile is not None:
        data = {
            "intro": profile.intro, "company": profile.company, "offers": list(profile.offers or []),
            "offers_text": profile.offers_text, "asks": list(profile.asks or []), "asks_text": profile.asks_text,
            "linkedin_url": profile.linkedin_url, "website_url": profile.website_url,
            "consent": profile.consent_to_suggest,
        }
    form = form_class(formdata=formdata) if formdata is not None else form_class(formdata=None, data=data)
    form.has_tags = bool(tags)
    return form


class PlanForm(ServiceForm):
    """The organizer's plan. Field names are the service's (`update_settings`)."""

    enabled = BooleanField("Send follow-ups for this event",
                           description="Off: no profile section on the registration form, and no emails.")
    audience = RadioField("Who gets them", choices=[SelectChoice(a.value, a.label) for a in Audience], default=Audience.CHECKED_IN.value,
                          validate_choice=False)
    tags = TextAreaField(
        "Tags attendees choose from", render_kw={"rows": 8},
        description="One per line, e.g. “Negotiating a raise”, “Board governance”. Attendees pick what they can offer and what they are looking for.")
    day_after_on = BooleanField("Send “The day after”")
    day_after_days = IntegerField("Days after the event", render_kw={"min": 1, "max": 365, "inputmode": "numeric"})
    keep_in_touch_on = BooleanField("Send “Keep in touch”")
    keep_in_touch_days = IntegerField("Days after the event", render_kw={"min": 1, "max": 365, "inputmode": "numeric"})
    reconnect_on = BooleanField("Send “Reconnect”")
    reconnect_days = IntegerField("Days after the event", render_kw={"min": 1, "max": 365, "inputmode": "numeric"})
    send_hour = IntegerField("Hour of sending (the event's local time, 0–23)", render_kw={"min": 0, "max": 23, "inputmode": "numeric"})

    def for_service(self) -> dict[str, Any]:
        return {
            "enabled": bool(self.enabled.data),
            "audience": self.audience.data or "",
            "tags": self.tags.data or "",
            "steps": {s.value: (bool(self[f"{s.value}_on"].data), self._raw(f"{s.value}_days")) for s in STEPS},
            "send_hour": self._raw("send_hour"),
        }

    def _raw(self, name: str):
        """What was typed (IntegerField turns bad input into None and a message of its own)."""
        f = self[name]
        return f.raw_data[0] if f.raw_data else f.data


def plan_form(settings, *, formdata=None) -> PlanForm:
    if formdata is not None:
        return PlanForm(formdata=formdata)
    data = {
        "enabled": settings.enabled, "audience": settings.audience.value, "tags": "\n".join(settings.tags or []),
        "send_hour": settings.send_hour,
    }
    for s in STEPS:
        data[f"{s.value}_on"] = settings.step_on(s)
        data[f"{s.value}_days"] = settings.step_days(s)
    return PlanForm(formdata=None, data=data)
