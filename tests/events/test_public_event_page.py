"""The event page: details in the event's zone, tickets and availability, JSON-LD, Open Graph, safety."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from eventsite.core.db import utcnow
from eventsite.events.models import EventStatus
from tests.events.public_helpers import future_local, json_ld, meta_tags, visible_text
from tests.factories import make_event, make_ticket_type


@pytest.fixture
def org(organizer):
    return organizer["organization_id"]


def _page(client, slug: str) -> str:
    response = client.get(f"/events/{slug}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_shows_everything_a_visitor_needs(app, client, org):
    with app.app_context():
        e = make_event(
            org, title="Negotiation Breakfast", slug="negotiation-breakfast",
            summary="Coffee and practice for your next raise.",
            description="## Programme\n\n- Welcome\n- **Role play**\n\nBring a friend.",
            starts_at=future_local(3, 10, 8, 0), ends_at=future_local(3, 10, 10, 30),
            venue_name="Kulturhaus Mitte", venue_address="Hauptstraße 1\n10115 Berlin",
        )
        make_ticket_type(e, name="Early bird", price_cents=2500, currency="EUR", capacity=100)
        make_ticket_type(e, name="Student", price_cents=0, capacity=100, description="Bring your student card.")
        year = e.starts_at.year

    html = _page(client, "negotiation-breakfast")
    text = visible_text(html)
    assert "Negotiation Breakfast" in text
    assert "Coffee and practice for your next raise." in text
    assert f"10 Mar {year}, 08:00–10:30 CET" in text
    assert "Time zone: Europe/Berlin" in text
    assert "Kulturhaus Mitte" in text and "Hauptstraße 1" in text and "10115 Berlin" in text
    assert ('href="https://www.openstreetmap.org/search?query=Kulturhaus+Mitte%2C+Hauptstra%C3%9Fe+1%2C+10115+Berlin"'
            in html)
    assert "<iframe" not in html  # a link, no embedded map
    # Markdown rendered
    assert "<h2>Programme</h2>" in html and "<strong>Role play</strong>" in html and "<li>Welcome</li>" in html
    assert "Early bird" in text and "€25.00" in text
    assert "Student" in text and "Free" in text and "Bring your student card." in text
    assert 'href="/events/negotiation-breakfast.ics"' in html and "Add to calendar" in text


@pytest.mark.parametrize(
    ("month", "abbr", "utc_hour"),
    [(1, "CET", "17:30"), (7, "CEST", "16:30")],
)
def test_time_is_shown_in_the_events_zone_across_dst(app, client, org, month, abbr, utc_hour):
    with app.app_context():
        e = make_event(org, slug="evening", starts_at=future_local(month, 20, 18, 30),
                       ends_at=future_local(month, 20, 21, 0))
        assert e.starts_at.astimezone(timezone.utc).strftime("%H:%M") == utc_hour  # stored in UTC
    html = _page(client, "evening")
    text = visible_text(html)
    assert f"18:30–21:00 {abbr}" in text
    assert utc_hour not in text
    data = json_ld(html)
    offset = "+01:00" if abbr == "CET" else "+02:00"
    assert data["startDate"].endswith(f"T18:30:00{offset}")
    assert data["endDate"].endswith(f"T21:00:00{offset}")


def test_other_zone_and_an_event_over_several_days(app, client, org):
    ny = ZoneInfo("America/New_York")
    with app.app_context():
        make_event(org, slug="retreat", timezone="America/New_York",
                   starts_at=future_local(10, 2, 17, 0, tz=ny), ends_at=future_local(10, 4, 13, 0, tz=ny))
    text = visible_text(_page(client, "retreat"))
    assert "17:00 EDT –" in text and "4 Oct" in text and "13:00 EDT" in text
    assert "Time zone: America/New_York" in text


def test_drafts_and_unknown_events_are_a_friendly_404(app, client, org):
    with app.app_context():
        make_event(org, slug="not-yet", title="Unannounced Gala", status=EventStatus.DRAFT)
    for path in ("/events/not-yet", "/events/not-yet.ics", "/events/no-such-event", "/events/no-such-event.ics"):
        response = client.get(path)
        assert response.status_code == 404, path
        body = response.get_data(as_text=True)
        assert "Page not found" in body
        assert "Unannounced Gala" not in body


def test_ticket_availability(app, client, org):
    now = utcnow()
    with app.app_context():
        e = make_event(org, slug="tickets")
        make_ticket_type(e, name="Plenty", capacity=200, sold=10)
        make_ticket_type(e, name="Nearly gone", capacity=200, sold=188)
        make_ticket_type(e, name="Tiny room", capacity=30, sold=27)
        make_ticket_type(e, name="Gone", capacity=40, sold=40)
        make_ticket_type(e, name="Later batch", capacity=50, sales_start=now + timedelta(days=3))
        make_ticket_type(e, name="Early bird", capacity=50, sales_end=now - timedelta(days=1))
        make_ticket_type(e, name="Speaker comp", capacity=5, hidden=True)

    html = _page(client, "tickets")

    rows = [visible_text(r) for r in re.findall(r'<li class="ticket [^>]*>(.*?)</li>', html, re.S)]
    assert len(rows) == 6

    def row(name: str) -> str:
        return next(r for r in rows if r.startswith(name + " "))

    assert "Available" in row("Plenty") and "left" not in row("Plenty")
    assert "12 left" in row("Nearly gone")
    assert "3 left" in row("Tiny room")
    assert "Sold out" in row("Gone")
    assert "Sales open" in row("Later batch")
    assert "Sales ended" in row("Early bird")
    assert "Speaker comp" not in html
    offers = {o["name"]: o for o in json_ld(html)["offers"]}
    assert set(offers) == {"Plenty", "Nearly gone", "Tiny room", "Gone", "Later batch", "Early bird"}
    assert offers["Gone"]["availability"] == "https://schema.org/SoldOut"
    assert offers["Plenty"]["availability"] == "https://schema.org/InStock"
    assert offers["Nearly gone"]["availability"] == "https://schema.org/InStock"


def test_event_capacity_caps_every_ticket_type(app, client, org):
    with app.app_context():
        e = make_event(org, slug="capped", capacity=50, sold=50)
        make_ticket_type(e, name="General", capacity=100, sold=0)
    html = _page(client, "capped")
    assert "Sold out" in visible_text(html)
    assert json_ld(html)["offers"][0]["availability"] == "https://schema.org/SoldOut"


def test_cancelled_event_has_a_banner_and_cancelled_status(app, client, org):
    with app.app_context():
        e = make_event(org, slug="cancelled", title="Rained Out Picnic", status=EventStatus.CANCELLED)
        make_ticket_type(e, name="Picnic seat", capacity=10)
    html = _page(client, "cancelled")
    assert "This event has been cancelled." in visible_text(html)
    assert json_ld(html)["eventStatus"] == "https://schema.org/EventCancelled"


def test_registration_window_notes(app, client, org):
    now = utcnow()
    with app.app_context():
        make_event(org, slug="opens-later", registration_opens_at=future_local(2, 1, 9, 0, years_ahead=1),
                   starts_at=now + timedelta(days=800))
        make_event(org, slug="closed", registration_closes_at=now - timedelta(hours=1))
        past = now - timedelta(days=2)
        make_event(org, slug="over", starts_at=past, ends_at=past + timedelta(hours=2))
        make_event(org, slug="open")
        year = now.year + 1
    opens_text = visible_text(_page(client, "opens-later"))
    assert "Registration opens" in opens_text and f"1 Feb {year}, 09:00 CET." in opens_text
    assert "Registration is closed." in visible_text(_page(client, "closed"))
    assert "This event has ended." in visible_text(_page(client, "over"))
    open_text = visible_text(_page(client, "open"))
    assert "Registration is closed" not in open_text and "Registration opens" not in open_text


def test_online_event(app, client, org):
    with app.app_context():
        make_event(org, slug="webinar", venue_name="", venue_address="", online_url="https://meet.example.org/abc")
    html = _page(client, "webinar")
    assert 'href="https://meet.example.org/abc"' in html
    assert "openstreetmap" not in html
    assert "Online event: join at meet.example.org" in visible_text(html)
    data = json_ld(html)
    assert data["eventAttendanceMode"] == "https://schema.org/OnlineEventAttendanceMode"
    assert data["location"] == {"@type": "VirtualLocation", "url": "https://meet.example.org/abc"}


def test_json_ld_describes_the_event(app, client, org):
    with app.app_context():
        e = make_event(org, slug="json", title="Mentoring Circle", summary="Small groups, big questions.",
                       venue_name="Kulturhaus", venue_address="Hauptstraße 1, 10115 Berlin",
                       cover_image="b" * 32 + ".png", starts_at=future_local(5, 5, 19, 0))
        make_ticket_type(e, name="Member", price_cents=1250, currency="EUR", capacity=20)
    html = _page(client, "json")
    data = json_ld(html)
    assert data["@context"] == "https://schema.org" and data["@type"] == "Event"
    assert data["name"] == "Mentoring Circle"
    assert datetime.fromisoformat(data["startDate"]) == future_local(5, 5, 19, 0)
    assert data["startDate"].endswith("+02:00")
    assert data["eventStatus"] == "https://schema.org/EventScheduled"
    assert data["eventAttendanceMode"] == "https://schema.org/OfflineEventAttendanceMode"
    assert data["location"]["@type"] == "Place" and data["location"]["name"] == "Kulturhaus"
    assert data["location"]["address"] == {"@type": "PostalAddress", "streetAddress": "Hauptstraße 1, 10115 Berlin"}
    assert data["description"] == "Small groups, big questions."
    assert data["image"] == [f"http://eventsite.test/uploads/{'b' * 32}.png"]
    assert data["url"] == "http://eventsite.test/events/json"
    assert data["organizer"] == {"@type": "Organization", "name": "Olivia Owner's events"}
    assert data["offers"] == [{
        "@type": "Offer", "name": "Member", "price": "12.50", "priceCurrency": "EUR",
        "availability": "https://schema.org/InStock", "url": "http://eventsite.test/events/json",
    }]


def test_open_graph_and_meta_description_use_absolute_urls(app, client, org):
    with app.app_context():
        make_event(org, slug="og", title="Board Governance 101", summary="",
                   description="Learn **how boards work**, from the people who sit on them.",
                   cover_image="c" * 32 + ".webp")
        make_event(org, slug="og-plain", title="No Cover Night")
    meta = meta_tags(_page(client, "og"))
    assert meta["og:title"] == "Board Governance 101"
    assert meta["og:type"] == "website"
    assert meta["og:url"] == "http://eventsite.test/events/og"
    assert meta["og:image"] == f"http://eventsite.test/uploads/{'c' * 32}.webp"
    # No summary: the description's text, without Markdown.
    assert meta["description"] == "Learn how boards work, from the people who sit on them."
    assert meta["og:description"] == meta["description"]
    plain = meta_tags(_page(client, "og-plain"))
    assert "og:image" not in plain
    assert plain["description"] == "An evening of talks and conversations."


def test_script_in_title_and_description_is_escaped_in_html_and_json_ld(app, client, org):
    evil = '</script><script>alert("t")</script>'
    with app.app_context():
        make_event(org, slug="xss", title=f"Party {evil}", summary=f"Sum {evil}",
                   description=f'Hello <script>alert("d")</script> <img src=x onerror=alert(1)> '
                               f'[click](javascript:alert(2)) {evil}',
                   venue_name=f"Hall {evil}")
    html = _page(client, "xss")
    assert "<script>alert(" not in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html  # shown as text
    assert 'href="javascript:' not in html
    # Exactly one script element: the JSON-LD, whose content cannot close the tag.
    assert html.count("<script") == 1
    block = html.split('<script type="application/ld+json">', 1)[1].split("</script>", 1)[0]
    assert "<" not in block and ">" not in block
    data = json_ld(html)
    assert data["name"] == f"Party {evil}"  # intact once parsed
    assert data["location"]["name"] == f"Hall {evil}"
    assert "&lt;/script&gt;&lt;script&gt;alert(&#34;t&#34;)" in html or "&lt;/script&gt;&lt;script&gt;alert(&quot;t&quot;)" in html


def test_csp_allows_the_page_without_inline_scripts(app, client, org):
    with app.app_context():
        make_event(org, slug="csp")
    response = client.get("/events/csp")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert ' style="' not in html and " onclick=" not in html
