"""The editor in the real browser, on a 360 px phone: log in, create an event, add a ticket, publish."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from eventsite.events.models import Event, EventStatus
from eventsite.extensions import db
from tests.events.manage_helpers import aware, next_year

pytestmark = pytest.mark.browser


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_organizer_creates_and_publishes_an_event_on_a_phone(app, live_server, organizer, phone_page):
    page = phone_page
    year, starts = next_year(6, 10, 18, 30)
    page.goto(live_server + "/organizer/login")
    page.fill("input[name=email]", organizer["email"])
    page.fill("input[name=password]", organizer["password"])
    page.click("button[type=submit]")

    page.goto(live_server + "/organizer/")
    page.click("text=New event")
    _no_sideways_scroll(page)
    page.get_by_label("Title").fill("Phone-made Evening")
    page.get_by_label("Starts").fill(starts)
    page.get_by_label("Ends").fill(starts.replace("18:30", "21:00"))
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Venue", exact=True).fill("Kulturhaus")
    page.get_by_label("Currency").fill("EUR")
    page.click("button:has-text('Create event')")
    assert "Event created as a draft" in page.inner_text("main")
    assert "/organizer/events/phone-made-evening" in page.url
    _no_sideways_scroll(page)

    page.click("nav.tabs >> text=Tickets")
    page.click("text=Add a ticket type")
    page.get_by_label("Name").fill("Early bird")
    page.get_by_label("Price").fill("25.50")
    page.get_by_label("Capacity").fill("40")
    page.click("button:has-text('Add ticket type')")
    assert "€25.50" in page.inner_text("main")
    _no_sideways_scroll(page)

    page.click("nav.tabs >> text=Overview")
    page.click("button:has-text('Publish')")
    assert "Published: the event is now on the public site." in page.inner_text("main")

    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.slug == "phone-made-evening"))
        assert event.status == EventStatus.PUBLISHED
        assert event.starts_at == aware(year, 6, 10, 16, 30)
        assert [(t.name, t.price_cents) for t in event.ticket_types] == [("Early bird", 2550)]

    page.goto(live_server + "/events/phone-made-evening")
    assert "Phone-made Evening" in page.inner_text("main")
