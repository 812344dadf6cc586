"""The public pages in the real browser: what a visitor sees on a laptop and on a 360 px phone."""
from __future__ import annotations

import io
import json
import os
from datetime import datetime, timedelta

import pytest

from eventsite.core.db import utcnow
from eventsite.events.models import EventStatus
from tests.factories import make_event, make_ticket_type

pytestmark = pytest.mark.browser

COVER = "feedfacefeedfacefeedfacefeedface.png"


def _cover_file(app) -> None:
    from PIL import Image

    folder = os.path.join(app.instance_path, "uploads")
    os.makedirs(folder, exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", (1200, 600), (106, 44, 145)).save(buf, "PNG")
    with open(os.path.join(folder, COVER), "wb") as fh:
        fh.write(buf.getvalue())


@pytest.fixture
def public_event(app, organizer):
    """A published winter evening in Berlin with a free, a paid and a sold-out ticket type, and a draft."""
    _cover_file(app)
    year = utcnow().year + 1
    with app.app_context():
        from zoneinfo import ZoneInfo

        berlin = ZoneInfo("Europe/Berlin")
        e = make_event(
            organizer["organization_id"],
            title="Women in Leadership: Winter Evening",
            slug="winter-evening",
            summary="Talks, then time to meet the people in the room.",
            description="## Programme\n\n- 18:30 doors\n- 19:00 talks\n\nSee [the venue](https://example.org/venue).",
            starts_at=datetime(year, 1, 22, 18, 30, tzinfo=berlin),
            ends_at=datetime(year, 1, 22, 22, 0, tzinfo=berlin),
            venue_name="Kulturhaus Mitte",
            venue_address="Hauptstraße 1\n10115 Berlin",
            cover_image=COVER,
        )
        make_ticket_type(e, name="Community", price_cents=0, capacity=100, sold=20)
        make_ticket_type(e, name="Supporter", price_cents=2500, currency="EUR", capacity=50, sold=41)
        make_ticket_type(e, name="Table of 8", price_cents=40000, currency="EUR", capacity=4, sold=4)
        make_event(organizer["organization_id"], title="Unannounced Spring Gala", slug="spring-gala",
                   status=EventStatus.DRAFT, starts_at=utcnow() + timedelta(days=20))
    yield {"year": year, "slug": "winter-evening"}
    os.remove(os.path.join(app.instance_path, "uploads", COVER))


LOADED_WIDTH = """img => (img.complete && img.naturalWidth) ? img.naturalWidth : new Promise(resolve => {
    img.addEventListener('load', () => resolve(img.naturalWidth));
    img.addEventListener('error', () => resolve(0));
})"""


def _watch_console(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    return problems


def test_home_page_lists_the_published_event_and_not_the_draft(live_server, page, public_event):
    problems = _watch_console(page)
    page.goto(live_server + "/")
    cards = page.locator(".event-card")
    assert cards.count() == 1
    card = cards.first
    text = card.inner_text()
    assert "Women in Leadership: Winter Evening" in text
    assert f"22 Jan {public_event['year']}, 18:30 CET" in text
    assert "Kulturhaus Mitte" in text
    assert "Free or from €25.00" in text
    assert "Unannounced Spring Gala" not in page.content()
    assert card.locator("img").evaluate(LOADED_WIDTH) == 1200

    card.get_by_role("link", name="Women in Leadership: Winter Evening").click()
    page.wait_for_url(live_server + "/events/winter-evening")
    assert page.get_by_role("heading", level=1).inner_text() == "Women in Leadership: Winter Evening"
    assert problems == []


def test_event_page_shows_its_details_and_valid_json_ld(live_server, page, public_event):
    problems = _watch_console(page)
    response = page.goto(live_server + "/events/winter-evening")
    assert response.status == 200
    main = page.locator("main").inner_text()
    year = public_event["year"]
    assert f"22 Jan {year}, 18:30–22:00 CET" in main
    assert "Europe/Berlin" in main
    assert "Kulturhaus Mitte" in main and "10115 Berlin" in main
    assert page.get_by_role("link", name="Show on OpenStreetMap").get_attribute("href").startswith(
        "https://www.openstreetmap.org/search?query=Kulturhaus+Mitte")
    assert page.get_by_role("heading", name="Programme").is_visible()

    tickets = page.locator(".ticket-list li")
    assert tickets.count() == 3
    rows = [" ".join(tickets.nth(i).inner_text().split()) for i in range(3)]
    assert rows[0].startswith("Community") and "Free" in rows[0] and "Available" in rows[0]
    assert rows[1].startswith("Supporter") and "€25.00" in rows[1] and "9 left" in rows[1]
    assert rows[2].startswith("Table of 8") and "€400.00" in rows[2] and "Sold out" in rows[2]

    data = json.loads(page.locator('script[type="application/ld+json"]').text_content())
    assert data["@type"] == "Event" and data["name"] == "Women in Leadership: Winter Evening"
    assert data["startDate"] == f"{year}-01-22T18:30:00+01:00"
    assert data["location"]["name"] == "Kulturhaus Mitte"
    assert {o["name"]: o["availability"].rsplit("/", 1)[1] for o in data["offers"]} == {
        "Community": "InStock", "Supporter": "InStock", "Table of 8": "SoldOut"}

    assert page.locator('meta[property="og:title"]').get_attribute("content") == "Women in Leadership: Winter Evening"
    assert page.locator('meta[property="og:image"]').get_attribute("content").endswith("/uploads/" + COVER)
    assert page.locator(".event-hero img").evaluate(LOADED_WIDTH) == 1200

    ics = page.get_by_role("link", name="Add to calendar (.ics)")
    with page.expect_download() as download_info:
        ics.click()
    download = download_info.value
    assert download.suggested_filename == "winter-evening.ics"
    with open(download.path(), "rb") as fh:
        assert b"DTSTART;TZID=Europe/Berlin:" in fh.read()
    assert problems == [], problems  # no CSP violation, no script error, no missing image


def test_a_script_in_the_title_does_not_run(live_server, page, app, organizer):
    with app.app_context():
        make_event(organizer["organization_id"], slug="xss", title='</script><script>window.pwned=1</script>Evil',
                   description='<img src=x onerror="window.pwned=2"> hi')
    problems = _watch_console(page)
    page.goto(live_server + "/events/xss")
    assert page.evaluate("window.pwned === undefined")
    assert "</script><script>window.pwned=1</script>Evil" in page.get_by_role("heading", level=1).inner_text()
    data = json.loads(page.locator('script[type="application/ld+json"]').text_content())
    assert data["name"] == "</script><script>window.pwned=1</script>Evil"
    assert problems == []


def test_unknown_and_draft_events_show_the_friendly_404(live_server, page, public_event):
    response = page.goto(live_server + "/events/spring-gala")
    assert response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    page.get_by_role("link", name="See upcoming events").click()
    assert page.locator(".event-card").count() == 1


def _assert_fits(page, width: int = 360) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"page is {scroll}px wide on a {width}px screen"
    wide = page.evaluate(
        """w => [...document.querySelectorAll('main *')]
                .filter(el => el.getBoundingClientRect().right > w + 0.5)
                .map(el => el.tagName + '.' + el.className)""",
        width,
    )
    assert wide == []


def test_phone_layout_does_not_overflow(live_server, phone_page, public_event, app, organizer):
    with app.app_context():
        e = make_event(
            organizer["organization_id"], slug="long-words",
            title="Internationalisierungsverantwortlichenkonferenzvorbereitungstreffen",
            summary="Supercalifragilisticexpialidociouslylongwordwithoutanyspacesatallinthesummary",
            description="https://example.org/a/very/long/link/that/goes/on/and/on/without/any/break/at/all/really\n\n"
                        "| a | b | c | d |\n|---|---|---|---|\n| wide-table-cell-content | more | and-more | even-more-content |",
            venue_name="Großes Veranstaltungszentrumsgebäudeeingangshalle",
            venue_address="Straße-der-Pariser-Kommune-Hinterhof-Aufgang-B 12345\n10115 Berlin",
            online_url="https://meet.example.org/rooms/a-very-long-room-name-that-never-ends-1234567890",
        )
        make_ticket_type(e, name="Ermäßigungsberechtigtenkontingentsticket", price_cents=123456, currency="EUR", capacity=3)
    problems = _watch_console(phone_page)
    for path in ("/", "/events/winter-evening", "/events/long-words"):
        phone_page.goto(live_server + path)
        _assert_fits(phone_page)
    phone_page.goto(live_server + "/events/winter-evening")
    # The ticket list is still readable: each price on screen.
    assert phone_page.get_by_text("€25.00").is_visible()
    assert problems == []
    assert phone_page.goto(live_server + "/events/no-such-event").status == 404  # the error page fits too
    _assert_fits(phone_page)
