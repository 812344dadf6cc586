"""axe-core in Chromium on the pages people meet: no serious or critical violation.

The home page, an event page (free, paid and sold-out tickets, the waitlist form), the 404 page, the
registration form showing its errors, a ticket page, the check-in screen (asking for the door, idle,
a welcome, already checked in with search results), the login page with its error and the
organizer's dashboard, event overview and event editor (with errors too); then the public pages again
on a 360 px phone. axe-core runs the WCAG 2.2 A/AA and best-practice rules; a failure prints each
violation with the nodes it points at.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import assert_no_axe_violations, axe_violations, describe
from tests.browser.test_checkin import door, log_in, open_screen, result_of, tickets  # noqa: F401 (fixtures)
from tests.browser.test_public_pages import public_event  # noqa: F401 (fixture)
from tests.browser.test_registration import evening  # noqa: F401 (fixture)
from tests.browser.test_waitlist import sold_out  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser


def _register_with_errors(page, live_server: str) -> None:
    page.goto(live_server + "/events/mentoring-night")
    page.get_by_label("General").select_option("2")
    page.get_by_label("Your name").fill("Dana Okafor")
    page.get_by_label("Your email").fill("dana@example")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#form-errors")).to_be_focused()


def _register(page, live_server: str) -> None:
    page.goto(live_server + "/events/mentoring-night")
    page.get_by_label("General").select_option("2")
    page.get_by_label("Your name").fill("Dana Okafor")
    page.get_by_label("Your email").fill("dana@example.org")
    page.get_by_label("Ticket 2: attendee's name").fill("Eli Chen")
    page.get_by_label("Tech").check()
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(re.compile(r".*/tickets/[A-Z0-9]+$"))


def test_home_and_event_pages(live_server, page, public_event, sold_out):
    page.goto(live_server + "/")
    expect(page.locator(".event-card").first).to_be_visible()
    assert_no_axe_violations(page, "the home page")
    page.goto(live_server + "/events/winter-evening")
    assert_no_axe_violations(page, "an event page with free, paid and sold-out tickets")
    page.goto(f"{live_server}/events/{sold_out.slug}")
    expect(page.locator("form.waitlist-form")).to_be_visible()
    assert_no_axe_violations(page, "a sold-out event page with its waitlist form")
    page.goto(live_server + "/events/no-such-event")
    assert_no_axe_violations(page, "the 404 page")
    # The check can fail: an image without alt text and a button without a name are reported, with
    # their nodes.
    page.evaluate("""() => document.querySelector('main').insertAdjacentHTML('beforeend',
        '<img src="/static/favicon.svg" id="no-alt"><button id="no-name"></button>')""")
    violations = axe_violations(page)
    assert {v["id"] for v in violations} >= {"image-alt", "button-name"}
    assert '"#no-alt"' in describe(violations) and '"#no-name"' in describe(violations)


def test_registration_errors_and_ticket_page(live_server, page, evening):
    _register_with_errors(page, live_server)
    assert_no_axe_violations(page, "the registration form showing errors")
    _register(page, live_server)
    assert_no_axe_violations(page, "the ticket page")


def test_checkin_screen(live_server, page, door, tickets):
    [secret] = tickets(name="Ada Attendee")
    tickets(name="Ada Other")
    log_in(page, live_server, door.staff_email)
    page.goto(live_server + door.screen)
    page.wait_for_selector("#checkin[data-ready=true]")
    assert_no_axe_violations(page, "the check-in screen asking for the door")
    open_screen(page, live_server, door, door_label="Door A")
    assert_no_axe_violations(page, "the check-in screen, ready")
    page.keyboard.type(secret + "\n")
    result_of(page, "ok")
    assert_no_axe_violations(page, "the check-in screen showing a welcome")
    page.keyboard.type(secret + "\n")
    result_of(page, "already_checked_in")
    page.get_by_label("Name, email or order code").fill("ada")
    page.wait_for_selector("#search-results li >> nth=1")
    assert_no_axe_violations(page, "the check-in screen: already checked in, and search results")


def test_organizer_event_editor(live_server, page, organizer, evening):
    page.goto(live_server + "/organizer/login")
    page.get_by_label("Email").fill(organizer["email"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#form-errors")).to_be_focused()
    assert_no_axe_violations(page, "the login page showing its error")
    log_in(page, live_server, organizer["email"])
    assert_no_axe_violations(page, "the organizer dashboard")
    page.goto(live_server + "/organizer/events/mentoring-night")
    assert_no_axe_violations(page, "the organizer's event overview")
    page.goto(live_server + "/organizer/events/mentoring-night/edit")
    assert_no_axe_violations(page, "the organizer event editor")
    page.get_by_label("Title").fill("")
    page.locator("form.editor-form").evaluate("f => { f.noValidate = true; }")
    page.get_by_role("button", name=re.compile("Save")).click()
    expect(page.locator("#form-errors")).to_be_focused()
    assert_no_axe_violations(page, "the organizer event editor showing errors")
    page.goto(live_server + "/organizer/events/new")
    assert_no_axe_violations(page, "the new event form")


def test_public_pages_on_a_phone(live_server, phone_page, public_event, evening, sold_out):
    page = phone_page
    for path, label in (("/", "the home page"), ("/events/winter-evening", "an event page"),
                        (f"/events/{sold_out.slug}/waitlist", "the waitlist form")):
        page.goto(live_server + path)
        assert_no_axe_violations(page, label + " on a phone")
    _register_with_errors(page, live_server)
    assert_no_axe_violations(page, "the registration errors on a phone")
    _register(page, live_server)
    assert_no_axe_violations(page, "the ticket page on a phone")
