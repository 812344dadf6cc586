"""The event as an iCalendar file (RFC 5545): the public download and the confirmation emails."""
from __future__ import annotations

from datetime import date
from urllib.parse import urlparse

from icalendar import Calendar
from icalendar import Event as VEvent

from eventsite.core.db import utcnow
from eventsite.events.display import event_url, markdown_to_text, one_line
from eventsite.events.models import Event, EventStatus

PRODID = "-//eventsite//eventsite//EN"


def event_uid(event: Event, base_url: str | None = None) -> str:
    """Stable for the life of the event, so calendars update the entry instead of adding another."""
    host = urlparse(event_url(event, base_url)).hostname or "eventsite"
    return f"event-{event.id}@{host}"


def _location(event: Event) -> str:
    place = ", ".join(p for p in (event.venue_name, one_line(event.venue_address)) if p)
    if event.online_url:
        return f"{place} / {event.online_url}" if place else event.online_url
    return place


def event_ics(event: Event, *, base_url: str | None = None) -> bytes:
    """A VCALENDAR with one VEVENT in the event's own zone, and the VTIMEZONE it needs.

    DTSTART/DTEND carry TZID=<the event's IANA zone> (UTC events are written with Z), so calendar
    apps show the right instant wherever the reader is. Needs an app context for the base URL
    unless `base_url` is given.
    """
    url = event_url(event, base_url)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")

    vevent = VEvent()
    vevent.add("uid", event_uid(event, base_url))
    vevent.add("dtstamp", utcnow())
    vevent.add("dtstart", event.local_starts_at)
    vevent.add("dtend", event.local_ends_at)
    vevent.add("summary", event.title)
    location = _location(event)
    if location:
        vevent.add("location", location)
    description = "\n\n".join(p for p in (event.summary, markdown_to_text(event.description), url) if p)
    vevent.add("description", description)
    vevent.add("url", url)
    if event.updated_at:
        vevent.add("last-modified", event.updated_at)
    if event.status == EventStatus.CANCELLED:
        vevent.add("status", "CANCELLED")
    else:
        vevent.add("status", "CONFIRMED")
    cal.add_component(vevent)

    # Only the years around the event: a short VTIMEZONE that is exact where it matters.
    start, end = event.local_starts_at, event.local_ends_at
    cal.add_missing_timezones(first_date=date(start.year - 1, 1, 1), last_date=date(end.year + 2, 1, 1))
    return cal.to_ical()
