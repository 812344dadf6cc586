"""What this domain adds to the lower domains' pages, through their hooks (installed by `views`).

- `registration.form_builder.form_sections`: `NetworkingSection` adds the optional networking profile to the
  registration form (fields named `networking-<name>`, rendered collapsed in a `<details>`), and
  stores it once the order exists, in the registration's own transaction: a profile that does not
  validate rolls the registration back, and the form shows the messages next to the fields.
- `events.page_cache.event_fingerprints`: `settings_fingerprint()`, the settings' `updated_at`, so a
  cached event page is re-rendered when the networking section (on or off, the tag list) changes.
- `registration.ticket_views.ticket_page_sections`: `ticket_section(order)` adds "Your networking profile"
  to `/tickets/<token>` (status and a link to edit it) and the people she was introduced to at
  earlier events of the organization who are coming too.
"""
from __future__ import annotations

from typing import Any

from flask import render_template, url_for
from markupsafe import Markup
from sqlalchemy import select

from eventsite.connections import event_settings, profiles, reminders
from eventsite.connections.forms import profile_data, profile_fields
from eventsite.connections.models import ConnectionSettings
from eventsite.core.db import utcnow
from eventsite.events.models import Event
from eventsite.registration.models import Order

PREFIX = "networking-"


class NetworkingSection:
    """A part of the registration form (see `registration.form_builder.form_sections`)."""

    template = "connections/_registration_section.html"

    def fields(self, event: Event) -> dict[str, Any]:
        settings = event_settings.settings_for(event)
        if not event_settings.networking_open(event, settings):
            return {}
        return profile_fields(list(settings.tags or []), prefix=PREFIX)

    def save(self, order: Order, form) -> None:
        profiles.save_profile_from_registration(order, profile_data(form, prefix=PREFIX), now=utcnow(), prefix=PREFIX)


networking_section = NetworkingSection()


def settings_fingerprint():
    """The event's settings' `updated_at` (NULL without a row), correlated to `events`."""
    return (
        select(ConnectionSettings.updated_at)
        .where(ConnectionSettings.event_id == Event.__table__.c.id)
        .scalar_subquery()
    )


def ticket_section(order: Order) -> Markup | None:
    """The ticket page's networking card, or None when there is nothing to say."""
    event = order.event
    is_open = event_settings.networking_open(event) and order.is_live
    profile = profiles.profile_for_order(order)
    known = reminders.people_you_know_coming(order, now=utcnow()) if order.is_live else []
    if not is_open and profile is None and not known:
        return None
    return Markup(render_template(
        "connections/_ticket_section.html", order=order, event=event, profile=profile, known=known,
        is_open=is_open, edit_url=url_for("connections.profile", token=order.token),
    ))
