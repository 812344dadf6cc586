"""Every flow of the browser tests, with the keyboard alone.

Apart from opening a page by its address, only page.keyboard acts (Tab, Shift+Tab, Enter, Space,
arrows and typing); the page is read with locators and the database. At every Tab stop the focused element must show its focus (a
non-none outline or box-shadow) and be on the screen; each flow ends where its mouse twin ends.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from eventsite.accounts.models import Role
from eventsite.connections.models import NetworkingProfile
from eventsite.core.mail.models import OutboxMessage
from eventsite.extensions import db
from eventsite.registration.models import Order, OrderStatus, WaitlistEntry, WaitlistStatus
from tests.accounts.conftest import invitation_token
from tests.browser.a11y import assert_focus_visible, focused, tab_through, tab_to
from tests.browser.test_checkin import door, result_of, tickets  # noqa: F401 (fixtures)
from tests.browser.test_public_pages import public_event  # noqa: F401 (fixture)
from tests.browser.test_registration import _check_ticket_page, evening  # noqa: F401 (fixture)
from tests.browser.test_waitlist import sold_out  # noqa: F401 (fixture)
from tests.checkin.conftest import scans
from tests.connections.test_browser import breakfast  # noqa: F401 (fixture)
from tests.factories import make_member
from tests.registration.waitlist_helpers import cancel, in_db

pytestmark = pytest.mark.browser


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def _active(page, selector: str) -> bool:
    return page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector)


def _press(page, key: str) -> None:
    page.keyboard.press(key)


def _replace(page, text: str) -> None:
    """Select what the focused field holds and type over it."""
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(text)


def _keyboard_login(page, live_server: str, email: str, password: str = "correct horse battery",
                    *, path: str = "/organizer/login") -> None:
    page.goto(live_server + path)
    page.wait_for_url(re.compile(r"/organizer/login"))
    assert _active(page, "#email"), "the login form should start in the email field"
    page.keyboard.type(email)
    tab_to(page, "#password")
    page.keyboard.type(password)
    _press(page, "Enter")


# --- skip link and public pages --------------------------------------------------------------

def test_skip_link_then_the_event_and_its_calendar_file(live_server, page, public_event):
    problems = _watch(page)
    page.goto(live_server + "/")
    _press(page, "Tab")
    state = assert_focus_visible(page)
    assert state["text"] == "Skip to content"  # and on the screen while it has the focus
    _press(page, "Enter")
    assert _active(page, "main#main")
    _press(page, "Tab")  # the next stop is the first link of the content, past the header's links
    assert _active(page, ".event-card h2 a") and assert_focus_visible(page)
    _press(page, "Enter")
    page.wait_for_url(live_server + "/events/winter-evening")
    expect(page.get_by_role("heading", level=1)).to_have_text("Women in Leadership: Winter Evening")
    # The map link, then the calendar file: Enter downloads it.
    tab_to(page, "a.map-link")
    tab_to(page, "a.calendar-link")
    with page.expect_download() as download_info:
        _press(page, "Enter")
    assert download_info.value.suggested_filename == "winter-evening.ics"
    # Shift+Tab goes back the same way; every stop of the page shows its focus.
    tab_to(page, "a.map-link", backwards=True)
    stops = tab_through(page)
    assert "a#[Skip to content]" in stops and any("Register" in s for s in stops), stops
    assert problems == []


def test_the_404_page_leads_back_with_the_keyboard(live_server, page, public_event):
    assert page.goto(live_server + "/events/spring-gala").status == 404
    tab_to(page, "main a")
    _press(page, "Enter")
    page.wait_for_url(live_server + "/")
    expect(page.locator(".event-card")).to_have_count(1)


# --- registration ----------------------------------------------------------------------------

def test_registration_two_tickets_and_a_question(live_server, page, app, evening):
    problems = _watch(page)
    page.goto(live_server + "/events/mentoring-night")
    tab_to(page, f"#quantity-{evening['type']}")
    _press(page, "ArrowDown")  # 1 -> 2 on a closed select
    tab_to(page, "#name")
    page.keyboard.type("Dana Okafor")
    tab_to(page, "#email")
    page.keyboard.type("dana@example.org")
    tab_to(page, "#attendee-1-name")
    page.keyboard.type("Eli Chen")
    tab_to(page, f"input[name='question-{evening['question']}']")
    _press(page, "Space")  # Finance
    _press(page, "ArrowDown")  # Tech
    assert_focus_visible(page)
    tab_to(page, "#registration-form button[type=submit]")
    _press(page, "Enter")
    _check_ticket_page(page, app, live_server, evening)
    # Every stop of the ticket page shows its focus; the rename and cancel controls are among them.
    stops = tab_through(page)
    assert any("Cancel" in s for s in stops) and any("summary" in s for s in stops), stops
    assert problems == [], problems


def test_fewer_tickets_take_the_extra_names_out_of_the_tab_order(live_server, page, app, evening):
    page.goto(live_server + "/events/mentoring-night")
    tab_to(page, f"#quantity-{evening['type']}")
    _press(page, "ArrowDown")
    _press(page, "ArrowDown")  # 3 tickets
    tab_to(page, "#attendee-2-name")
    page.keyboard.type("Somebody Extra")
    tab_to(page, f"#quantity-{evening['type']}", backwards=True)
    _press(page, "ArrowUp")  # back to 2
    expect(page.locator("#attendee-2-name")).to_be_hidden()
    tab_to(page, "#name")
    page.keyboard.type("Dana Okafor")
    tab_to(page, "#email")
    page.keyboard.type("dana@example.org")
    tab_to(page, "#attendee-1-name")
    page.keyboard.type("Eli Chen")
    _press(page, "Tab")
    assert not _active(page, "#attendee-2-name, #attendee-2-email")
    tab_to(page, f"input[name='question-{evening['question']}']")
    _press(page, "Space")
    _press(page, "ArrowDown")
    tab_to(page, "#registration-form button[type=submit]")
    _press(page, "Enter")
    _check_ticket_page(page, app, live_server, evening)


def test_errors_take_the_focus_to_the_summary_then_to_the_field(live_server, page, app, evening):
    page.goto(live_server + "/events/mentoring-night")
    tab_to(page, "#name")
    page.keyboard.type("Dana Okafor")
    tab_to(page, "#email")
    page.keyboard.type("dana@example")
    _press(page, "Enter")  # Enter in a field submits the form
    expect(page.locator("#form-errors")).to_be_focused()
    assert_focus_visible(page)
    email = page.locator("#email")
    assert "email-error" in email.get_attribute("aria-describedby").split()
    assert email.get_attribute("aria-invalid") == "true"
    # The summary names both problems; each link takes the focus to its field.
    summary = page.locator("#form-errors").inner_text()
    assert "email" in summary.lower() and "Which table?" in summary
    tab_to(page, "#form-errors a[href='#email']")
    _press(page, "Enter")
    expect(email).to_be_focused()
    assert_focus_visible(page)
    _replace(page, "dana@example.org")
    tab_to(page, f"input[name='question-{evening['question']}']")
    _press(page, "Space")
    _press(page, "ArrowDown")
    tab_to(page, "#registration-form button[type=submit]")
    _press(page, "Enter")
    page.wait_for_url(re.compile(r".*/tickets/[A-Z0-9]+$"))
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        assert (order.buyer_email, order.answers) == ("dana@example.org", {str(evening["question"]): "Tech"})
        db.session.remove()


def test_the_networking_profile_with_the_keyboard(live_server, page, app, breakfast):
    page.goto(live_server + "/events/leadership-breakfast")
    tab_to(page, "#name")
    page.keyboard.type("Dana Okafor")
    tab_to(page, "#email")
    page.keyboard.type("dana@example.org")
    tab_to(page, "details.networking-section > summary")
    _press(page, "Enter")  # opens the section
    intro = page.get_by_label("One line about you")
    expect(intro).to_be_visible()
    tab_to(page, intro)
    page.keyboard.type("Head of people operations")
    offer = page.get_by_role("group", name=re.compile("What you can offer")).get_by_label("Negotiating a raise")
    tab_to(page, offer)
    _press(page, "Space")
    ask = page.get_by_role("group", name=re.compile("What you are looking for")).get_by_label("Board governance")
    tab_to(page, ask)
    _press(page, "Space")
    consent = page.get_by_label("Suggest me to other attendees after the event")
    tab_to(page, consent)
    _press(page, "Space")
    tab_to(page, "#registration-form button[type=submit]")
    _press(page, "Enter")
    page.wait_for_url(re.compile(r".*/tickets/[A-Z0-9]+$"))
    with app.app_context():
        p = db.session.scalars(select(NetworkingProfile)).one()
        assert (p.intro, p.offers, p.asks, p.consent_to_suggest) == (
            "Head of people operations", ["Negotiating a raise"], ["Board governance"], True)
        db.session.remove()
    tab_to(page, "a:text('See or change your networking profile')")
    _press(page, "Enter")
    company = page.get_by_label("Company or organization")
    company.wait_for()
    tab_to(page, company)
    page.keyboard.type("Okafor & Co")
    tab_to(page, "button:text('Save my profile')")
    _press(page, "Enter")
    expect(page.locator(".flashes")).to_contain_text("Your networking profile is saved.")
    assert page.get_by_label("Company or organization").input_value() == "Okafor & Co"


# --- the waitlist ----------------------------------------------------------------------------

def test_joining_the_waitlist_and_claiming_the_offer(live_server, page, app, sold_out):
    page.goto(f"{live_server}/events/{sold_out.slug}")
    tab_to(page, "#waitlist-name")
    page.keyboard.type("Wanda Waiting")
    tab_to(page, "#waitlist-email")
    page.keyboard.type("wanda@example")  # the browser accepts it; the server does not
    tab_to(page, ".waitlist-form button[type=submit]")
    _press(page, "Enter")
    errors = page.locator("#waitlist-errors")
    expect(errors).to_be_focused()
    assert_focus_visible(page)
    expect(page.locator("#waitlist-email")).to_have_attribute("aria-describedby", "waitlist-email-error")
    tab_to(page, "#waitlist-errors a")
    _press(page, "Enter")
    expect(page.locator("#waitlist-email")).to_be_focused()
    _replace(page, "wanda@example.org")
    _press(page, "Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("You're number 1 on the waitlist")
    with in_db(app):
        entry = db.session.scalar(select(WaitlistEntry))
        assert (entry.name, entry.email, entry.status) == ("Wanda Waiting", "wanda@example.org", WaitlistStatus.WAITING)
        token = entry.token

    cancel(app, sold_out.order_id)  # a seat frees up: Wanda's link now offers it
    page.goto(f"{live_server}/waitlist/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("A place is reserved for you")
    tab_to(page, "button:text('Claim my place')")
    _press(page, "Enter")
    page.wait_for_url(re.compile(r"/tickets/[A-Z0-9]+$"))
    with in_db(app):
        order = db.session.scalar(select(Order).where(Order.buyer_email == "wanda@example.org"))
        assert order.status == OrderStatus.CONFIRMED


# --- check-in --------------------------------------------------------------------------------

def test_check_in_by_search_door_and_undo(live_server, page, app, door, tickets):
    tickets(name="Sara Search", email="sara@example.org")
    tickets(name="Sam Other")
    _keyboard_login(page, live_server, door.staff_email, path=door.screen)
    page.wait_for_url(live_server + door.screen)
    page.wait_for_selector("#checkin[data-ready=true]")
    # No door yet: the door field has the focus.
    expect(page.locator("#door-input")).to_be_focused()
    page.keyboard.type("Lobby")
    _press(page, "Enter")
    expect(page.locator("#door-name")).to_have_text("Lobby")
    expect(page.locator("#code")).to_be_focused()
    assert_focus_visible(page)
    tab_to(page, "#search-input")
    page.keyboard.type("sara", delay=30)
    expect(page.locator("#search-results li")).to_have_count(1)
    tab_to(page, "#search-results button")
    assert focused(page)["text"] == "Check in"
    _press(page, "Enter")
    assert "Welcome, Sara Search!" in result_of(page, "ok").inner_text()
    expect(page.locator("#count-in")).to_have_text("1")
    # Undo with the keyboard: back from the code field to the button under the welcome.
    tab_to(page, "button:text('Undo this check-in')", backwards=True)
    _press(page, "Enter")
    assert "no longer checked in" in result_of(page, "undone").inner_text()
    expect(page.locator("#count-in")).to_have_text("0")
    # Change the door with the keyboard too.
    tab_to(page, "#door-change")
    _press(page, "Enter")
    expect(page.locator("#door-input")).to_be_focused()
    _replace(page, "Garden gate")
    _press(page, "Enter")
    expect(page.locator("#door-name")).to_have_text("Garden gate")
    # No camera here: Start camera says so, and the focus goes back to the code field.
    tab_to(page, "#camera-toggle")
    _press(page, "Enter")
    page.wait_for_selector("#checkin[data-camera=error]")
    expect(page.locator("#code")).to_be_focused()
    stops = tab_through(page)
    assert any(s.startswith("input#search-input") for s in stops), stops
    # Past the end the screen takes the focus back to the code field (for the scanner); the header
    # is reached with Shift+Tab.
    tab_to(page, ".skip-link", backwards=True)
    with app.app_context():
        assert [(s.action, s.result, s.door) for s in scans()] == [("check_in", "ok", "Lobby"), ("undo", "undone", "Lobby")]
        assert scans()[0].method == "search"
        db.session.remove()


def test_the_check_in_report_filter(live_server, page, door, tickets, organizer):
    [secret] = tickets(name="Report Rosa")
    _keyboard_login(page, live_server, organizer["email"])
    page.wait_for_url(live_server + "/organizer/")
    page.goto(live_server + door.screen)
    page.wait_for_selector("#checkin[data-ready=true]")
    page.keyboard.type("Door A\n")
    expect(page.locator("#door-name")).to_have_text("Door A")
    expect(page.locator("#code")).to_be_focused()
    page.keyboard.type(secret + "\n")
    result_of(page, "ok")
    page.goto(f"{live_server}/organizer/events/{door.slug}/checkin/report")
    tab_to(page, "select[name=result]")
    page.keyboard.type("unk")  # a closed select picks the option typed
    assert page.locator("select[name=result]").input_value() == "unknown"
    tab_to(page, "button:text('Filter')")
    _press(page, "Enter")
    expect(page.locator("main")).to_contain_text("No scans match these filters.")


# --- organizer accounts and pages ------------------------------------------------------------

def test_organizer_login_logout_token_and_team(live_server, page, browser, app, organizer):
    with app.app_context():
        make_member(organizer["organization_id"], Role.CHECKIN, "dora@example.org")
    _keyboard_login(page, live_server, organizer["email"], "not the password", path="/organizer/settings")
    expect(page.get_by_role("alert")).to_contain_text("Email or password is incorrect.")
    expect(page.locator("#form-errors")).to_be_focused()
    assert_focus_visible(page)
    tab_to(page, "#password")
    page.keyboard.type(organizer["password"])
    _press(page, "Enter")
    page.wait_for_url(live_server + "/organizer/settings")

    tab_to(page, page.get_by_label("Token name"))
    page.keyboard.type("Door laptop")
    _press(page, "Enter")
    token_box = page.get_by_label("Token “Door laptop”")
    assert re.fullmatch(r"evs_[A-Za-z0-9_-]+", token_box.input_value())
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    tab_to(page, "button:text('Copy')")
    _press(page, "Enter")
    expect(page.get_by_role("status").filter(has_text="Copied")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == token_box.input_value()
    tab_to(page, "a:text('I have copied it: back to settings')")
    _press(page, "Enter")
    expect(page.get_by_role("row").filter(has_text="Door laptop")).to_be_visible()

    page.goto(live_server + "/organizer/team")
    invite = page.locator("form[action*='invit']").last
    role = invite.get_by_label("Role", exact=True)
    tab_to(page, invite.get_by_label("Email"))
    page.keyboard.type("newcomer@example.org")
    tab_to(page, role)
    page.keyboard.type("Org")  # Organizer
    assert role.input_value() == "organizer"
    tab_to(page, invite.get_by_role("button", name="Send invitation"))
    _press(page, "Enter")
    expect(page.get_by_text("Invitation sent to newcomer@example.org")).to_be_visible()

    tab_to(page, "header button:text('Log out')", backwards=True)
    _press(page, "Enter")
    page.wait_for_url(live_server + "/organizer/login")
    expect(page.get_by_text("You are logged out.")).to_be_visible()

    with app.app_context():
        text = db.session.scalar(select(OutboxMessage.text_body).where(OutboxMessage.to_addr == "newcomer@example.org"))
    page.goto(f"{live_server}/organizer/invitations/{invitation_token(text)}")
    for label, value in (("Your name", "Nia Newcomer"), ("Choose a password", "a long new passphrase"),
                         ("Password again", "a long new passphrase")):
        tab_to(page, page.get_by_label(label))
        page.keyboard.type(value)
    _press(page, "Enter")
    page.wait_for_url(live_server + "/organizer/")
    expect(page.get_by_text("Welcome to the team of")).to_be_visible()


def test_the_follow_up_plan_and_the_event_editor(live_server, page, organizer, breakfast):
    _keyboard_login(page, live_server, organizer["email"])
    page.wait_for_url(live_server + "/organizer/")
    page.goto(live_server + "/organizer/events/leadership-breakfast/follow-up")
    days = page.get_by_label("Days after the event").first
    tab_to(page, days)
    _replace(page, "2")
    tab_to(page, "button:text('Save the plan')")
    _press(page, "Enter")
    expect(page.locator(".flashes")).to_contain_text("The follow-up plan is saved.")
    assert page.get_by_label("Days after the event").first.input_value() == "2"
    tab_to(page, "main a:text-matches('Preview')")
    _press(page, "Enter")
    expect(page.frame_locator("iframe.mail-frame").get_by_text("Dana Sample").first).to_be_visible()
    # The event editor: every stop shows its focus; a rejected save takes the focus to the summary,
    # whose link leads to the field.
    page.goto(live_server + "/organizer/events/leadership-breakfast/edit")
    stops = tab_through(page)
    assert any(s.startswith("input#title") for s in stops), stops
    tab_to(page, "#slug")
    _replace(page, "Not a slug!")
    _press(page, "Enter")
    expect(page.locator("#form-errors")).to_be_focused()
    assert_focus_visible(page)
    slug = page.locator("#slug")
    assert slug.get_attribute("aria-invalid") == "true" and "slug-error" in slug.get_attribute("aria-describedby")
    tab_to(page, "#form-errors a[href='#slug']")
    _press(page, "Enter")
    expect(slug).to_be_focused()
    _replace(page, "leadership-breakfast")
    _press(page, "Enter")
    page.wait_for_url(live_server + "/organizer/events/leadership-breakfast")
