"""The networking profile in the real browser, on a 360-pixel phone: the collapsed section on the
registration form, filled by a person, then the card on her ticket page and the organizer's tab."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from eventsite.connections import event_settings
from eventsite.connections.models import NetworkingProfile
from eventsite.extensions import db
from tests.connections.conftest import TAGS
from tests.factories import make_event, make_ticket_type

pytestmark = pytest.mark.browser


@pytest.fixture
def breakfast(app, organizer):
    with app.app_context():
        e = make_event(organizer["organization_id"], slug="leadership-breakfast", title="Leadership Breakfast")
        make_ticket_type(e, name="Breakfast", capacity=20)
        event_settings.update_settings(e, enabled=True, audience="checked_in", tags="\n".join(TAGS),
                                 steps={"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)})
        db.session.commit()
        db.session.remove()


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide on a 360 px phone"


def test_filling_the_profile_while_registering_on_a_phone(live_server, phone_page, app, breakfast):
    page = phone_page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(live_server + "/events/leadership-breakfast")
    intro = page.get_by_label("One line about you")
    assert not intro.is_visible()  # collapsed by default
    page.get_by_label("Your name").fill("Dana Okafor")
    page.get_by_label("Your email").fill("dana@example.org")
    page.get_by_text("Keep in touch after the event").click()
    intro.wait_for(state="visible")
    _no_sideways_scroll(page)
    intro.fill("Head of people operations")
    offers = page.get_by_role("group", name=re.compile("What you can offer"))
    offers.get_by_label("Negotiating a raise").check()
    asks = page.get_by_role("group", name=re.compile("What you are looking for"))
    asks.get_by_label("Board governance").check()
    page.get_by_label("LinkedIn profile (optional)").fill("https://www.linkedin.com/in/dana")
    page.get_by_label("Suggest me to other attendees after the event").check()
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(re.compile(r".*/tickets/[A-Z0-9]+$"))
    card = page.get_by_role("region", name="Your networking profile")
    assert "You agreed to be suggested to other attendees" in card.inner_text()
    _no_sideways_scroll(page)
    with app.app_context():
        p = db.session.scalars(select(NetworkingProfile)).one()
        assert (p.intro, p.offers, p.asks, p.consent_to_suggest) == (
            "Head of people operations", ["Negotiating a raise"], ["Board governance"], True)
        db.session.remove()
    card.get_by_role("link", name="See or change your networking profile").click()
    page.get_by_label("Company or organization").fill("Okafor & Co")
    page.get_by_role("button", name="Save my profile").click()
    assert "Your networking profile is saved." in page.locator(".flashes").inner_text()
    assert page.get_by_label("Company or organization").input_value() == "Okafor & Co"
    _no_sideways_scroll(page)
    assert problems == []


def test_the_follow_up_tab_on_a_phone(live_server, phone_page, app, organizer, breakfast):
    page = phone_page
    page.goto(live_server + "/organizer/login")
    page.get_by_label("Email").fill(organizer["email"])
    page.get_by_label("Password").fill(organizer["password"])
    page.get_by_role("button", name=re.compile("Log in")).click()
    page.goto(live_server + "/organizer/events/leadership-breakfast/follow-up")
    assert page.get_by_role("link", name="Follow-up").get_attribute("aria-current") == "page"
    page.get_by_label("Days after the event").first.fill("2")
    page.get_by_role("button", name="Save the plan").click()
    assert "The follow-up plan is saved." in page.locator(".flashes").inner_text()
    _no_sideways_scroll(page)
    page.get_by_role("link", name=re.compile("Preview")).first.click()
    frame = page.frame_locator("iframe.mail-frame")
    assert frame.get_by_text("Dana Sample").first.is_visible()
    _no_sideways_scroll(page)
