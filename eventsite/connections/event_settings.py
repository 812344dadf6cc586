"""The event's keep-in-touch settings: the follow-up plan (on or off, who qualifies, which steps
after how many days, the local sending hour) and the tag list profiles choose from.

One `ConnectionSettings` row per event, created when the organizer first saves; until then
`settings_for` answers the defaults (not added to the session). Saving flushes only; the organizer's
view commits. Bad input raises `ValidationError` with the form's field names.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventsite.connections.cleaning import parse_tags
from eventsite.connections.models import (
    STEPS,
    Audience,
    ConnectionSettings,
)
from eventsite.core.errors import ValidationError
from eventsite.events.models import Event, EventStatus
from eventsite.extensions import db

STEP_DAYS_MAX = 365


def settings_for(event: Event) -> ConnectionSettings:
    """The event's saved settings, or the defaults (not added to the session)."""
    return db.session.get(ConnectionSettings, event.id) or ConnectionSettings.defaults_for(event)


def networking_open(event: Event, settings: ConnectionSettings | None = None) -> bool:
    """Profiles can be filled for this event: the follow-up plan is on and the event not cancelled.
    Pass the event's `settings` when you have them (one query less)."""
    if event.status == EventStatus.CANCELLED:
        return False
    return (settings or settings_for(event)).enabled


def update_settings(
    event: Event,
    *,
    enabled: bool,
    audience: str,
    tags: Any,
    steps: Mapping[str, tuple[bool, Any]],
    send_hour: Any = 10,
    actor=None,
) -> ConnectionSettings:
    """Save the event's follow-up plan and tag list. `steps` maps a step's value to (on, days).

    Field names in `ValidationError.errors`: `audience`, `tags`, `<step>_days`, `send_hour`.
    """
    errors: dict[str, str] = {}
    try:
        audience_value = Audience(audience)
    except ValueError:
        errors["audience"] = "Choose who gets the follow-ups."
        audience_value = Audience.CHECKED_IN
    tag_list = parse_tags(tags, errors)
    days: dict[str, int] = {}
    on: dict[str, bool] = {}
    for step in STEPS:
        is_on, raw = steps.get(step.value, (False, None))
        on[step.value] = bool(is_on)
        value = _int(raw)
        if value is None or not 1 <= value <= STEP_DAYS_MAX:
            errors[f"{step.value}_days"] = f"Enter a whole number of days from 1 to {STEP_DAYS_MAX}."
            value = ConnectionSettings.defaults_for(event).step_days(step)
        days[step.value] = value
    previous = None
    for step in STEPS:
        if not on[step.value] or f"{step.value}_days" in errors:
            continue
        if previous is not None and days[step.value] <= days[previous.value]:
            errors[f"{step.value}_days"] = (
                f"“{step.label}” must come after “{previous.label}” ({days[previous.value]} days): "
                "enter more days.")
        previous = step
    hour = _int(send_hour)
    if hour is None or not 0 <= hour <= 23:
        errors["send_hour"] = "Enter an hour from 0 to 23."
    if errors:
        raise ValidationError(errors)

    row = db.session.get(ConnectionSettings, event.id)
    if row is None:
        row = ConnectionSettings.defaults_for(event)
        db.session.add(row)
    row.enabled = bool(enabled)
    row.audience = audience_value
    row.tags = tag_list
    for step in STEPS:
        setattr(row, f"{step.value}_on", on[step.value])
        setattr(row, f"{step.value}_days", days[step.value])
    row.send_hour = hour
    row.finished_at = None  # the worker looks at the plan again
    db.session.flush()
    return row


def _int(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        return None
