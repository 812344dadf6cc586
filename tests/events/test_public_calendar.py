"""The .ics download: one VEVENT in the event's zone, with its VTIMEZONE, that parses back exactly."""
from __future__ import annotations

from datetime import datetime, timezone

from icalendar import Calendar

from eventsite.events.calendar import event_ics
from eventsite.events.models import Event, EventStatus
from eventsite.extensions import db
from tests.events.public_helpers import future_local
from tests.factories import make_event


def _download(client, slug: str) -> tuple[Calendar, bytes]:
    response = client.get(f"/events/{slug}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{slug}.ics"'
    return Calendar.from_ical(response.data), response.data


def test_ics_has_the_right_instants_in_the_events_zone(app, client, organizer):
    with app.app_context():
        make_event(organizer["organization_id"], slug="summer-evening", title="Summer Evening",
                   starts_at=future_local(7, 10, 18, 30), ends_at=future_local(7, 10, 22, 0),
                   venue_name="Kulturhaus", venue_address="Hauptstraße 1\n10115 Berlin",
                   summary="Meet founders.", description="Talks and **time to meet**.\n\n[Map](https://example.org/map)")
    cal, raw = _download(client, "summer-evening")
    year = future_local(7, 10, 18, 30).year
    assert f"DTSTART;TZID=Europe/Berlin:{year}0710T183000".encode() in raw
    assert f"DTEND;TZID=Europe/Berlin:{year}0710T220000".encode() in raw

    [vevent] = cal.walk("VEVENT")
    start, end = vevent.decoded("dtstart"), vevent.decoded("dtend")
    # 18:30 CEST is 16:30 UTC.
    assert start.astimezone(timezone.utc) == datetime(year, 7, 10, 16, 30, tzinfo=timezone.utc)
    assert end.astimezone(timezone.utc) == datetime(year, 7, 10, 20, 0, tzinfo=timezone.utc)
    [vtimezone] = cal.walk("VTIMEZONE")
    assert str(vtimezone["TZID"]) == "Europe/Berlin"
    assert {str(c["TZNAME"]) for c in vtimezone.subcomponents} == {"CET", "CEST"}
    assert str(vevent["SUMMARY"]) == "Summer Evening"
    assert str(vevent["LOCATION"]) == "Kulturhaus, Hauptstraße 1, 10115 Berlin"
    description = str(vevent["DESCRIPTION"])
    assert "Meet founders." in description
    assert "Talks and time to meet." in description and "**" not in description  # plain text
    assert "Map (https://example.org/map)" in description
    assert str(vevent["URL"]) == "http://eventsite.test/events/summer-evening"
    assert str(vevent["STATUS"]) == "CONFIRMED"
    assert cal.get("VERSION") == "2.0" and cal.get("PRODID")


def test_uid_is_stable_across_downloads_and_edits(app, client, organizer):
    with app.app_context():
        e = make_event(organizer["organization_id"], slug="stable", starts_at=future_local(1, 5, 19, 0))
        event_id = e.id
    first, _ = _download(client, "stable")
    with app.app_context():
        db.session.get(Event, event_id).title = "Renamed"
        db.session.commit()
    second, _ = _download(client, "stable")
    uid1 = str(first.walk("VEVENT")[0]["UID"])
    uid2 = str(second.walk("VEVENT")[0]["UID"])
    assert uid1 == uid2 == f"event-{event_id}@eventsite.test"
    assert str(second.walk("VEVENT")[0]["SUMMARY"]) == "Renamed"


def test_cancelled_event_is_status_cancelled(app, client, organizer):
    with app.app_context():
        make_event(organizer["organization_id"], slug="off", status=EventStatus.CANCELLED)
    cal, _ = _download(client, "off")
    assert str(cal.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"


def test_winter_event_in_another_zone_and_online(app, organizer):
    """event_ics() on its own (as the confirmation emails use it)."""
    from zoneinfo import ZoneInfo

    tokyo = ZoneInfo("Asia/Tokyo")
    with app.app_context():
        e = make_event(organizer["organization_id"], timezone="Asia/Tokyo", venue_name="", venue_address="",
                       online_url="https://meet.example.org/x", starts_at=future_local(12, 1, 9, 0, tz=tokyo))
        raw = event_ics(e, base_url="https://events.example.org")
    cal = Calendar.from_ical(raw)
    vevent = cal.walk("VEVENT")[0]
    assert vevent.decoded("dtstart").astimezone(timezone.utc).hour == 0  # 09:00 JST = 00:00 UTC
    assert str(cal.walk("VTIMEZONE")[0]["TZID"]) == "Asia/Tokyo"
    assert str(vevent["LOCATION"]) == "https://meet.example.org/x"
    assert str(vevent["UID"]).endswith("@events.example.org")
    assert str(vevent["URL"]).startswith("https://events.example.org/events/")


def test_utc_event_needs_no_timezone_component(app, organizer):
    with app.app_context():
        e = make_event(organizer["organization_id"], timezone="UTC",
                       starts_at=future_local(3, 3, 12, 0, tz=timezone.utc))
        cal = Calendar.from_ical(event_ics(e))
    start = cal.walk("VEVENT")[0].decoded("dtstart")
    assert start == future_local(3, 3, 12, 0, tz=timezone.utc)
