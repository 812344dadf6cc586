"""Accounts pages in the real browser: logging in with the keyboard, tokens, the team and an
invitation accepted on a 360 px phone."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from eventsite.accounts.models import Role
from eventsite.core.mail.models import OutboxMessage
from eventsite.extensions import db
from tests.accounts.conftest import invitation_token
from tests.factories import make_member

pytestmark = pytest.mark.browser


def _watch_console(page) -> list[str]:
    """Script errors and failed loads, except the 401 of the failed login page itself."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and "status of 401" not in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def _assert_fits(page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    wide = page.evaluate(
        """w => [...document.querySelectorAll('main *')]
                .filter(el => el.getBoundingClientRect().right > w + 0.5)
                .map(el => el.tagName + '.' + el.className)""",
        width,
    )
    assert wide == []


def test_login_with_the_keyboard_and_a_wrong_password_first(live_server, page, organizer):
    problems = _watch_console(page)
    page.goto(live_server + "/organizer/settings")
    page.wait_for_url(re.compile(r"/organizer/login\?next="))
    assert page.get_by_text("Please log in to see that page.").is_visible()
    # The email field has focus; type, Tab to the password, Enter submits.
    page.keyboard.type(organizer["email"])
    page.keyboard.press("Tab")
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert page.get_by_role("alert").inner_text().strip().endswith("Email or password is incorrect.")
    page.get_by_label("Password").fill(organizer["password"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server + "/organizer/settings")
    assert page.get_by_label("Email", exact=True).input_value() == organizer["email"]
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(live_server + "/organizer/login")
    assert page.get_by_text("You are logged out.").is_visible()
    assert problems == []


def test_token_team_and_invitation_on_a_phone(live_server, phone_page, browser, app, organizer):
    with app.app_context():
        make_member(organizer["organization_id"], Role.CHECKIN, "dora.door.with.a.long.address@example.org")
    page = phone_page
    problems = _watch_console(page)
    page.goto(live_server + "/organizer/login")
    _assert_fits(page)
    page.get_by_label("Email").fill(organizer["email"])
    page.get_by_label("Password").fill(organizer["password"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server + "/organizer/")

    page.goto(live_server + "/organizer/settings")
    _assert_fits(page)
    page.get_by_label("Token name").fill("Door laptop")
    page.get_by_role("button", name="Create token").click()
    token_box = page.get_by_label("Token “Door laptop”")
    assert re.fullmatch(r"evs_[A-Za-z0-9_-]+", token_box.input_value())
    assert page.get_by_text("this is the only time it is shown").is_visible()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == token_box.input_value()
    _assert_fits(page)
    page.get_by_role("link", name="I have copied it: back to settings").click()
    row = page.get_by_role("row").filter(has_text="Door laptop")
    expect(row).to_be_visible()
    expect(row.get_by_role("cell").nth(3)).to_contain_text("Never")  # table roles survive the phone layout

    page.goto(live_server + "/organizer/team")
    _assert_fits(page)
    assert page.get_by_label("Role of Team Member").input_value() == "checkin"
    page.get_by_label("Email").fill("newcomer@example.org")
    page.get_by_label("Role", exact=True).select_option("organizer")
    page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_text("Invitation sent to newcomer@example.org").is_visible()
    expect(page.get_by_role("row").filter(has_text="newcomer@example.org")).to_contain_text("Organizer")
    _assert_fits(page)
    assert problems == []

    with app.app_context():
        text = db.session.scalar(select(OutboxMessage.text_body).where(OutboxMessage.to_addr == "newcomer@example.org"))
    token = invitation_token(text)

    # The newcomer opens the link on her own phone.
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        newcomer = context.new_page()
        newcomer.goto(f"{live_server}/organizer/invitations/{token}")
        _assert_fits(newcomer)
        newcomer.get_by_label("Your name").fill("Nia Newcomer")
        newcomer.get_by_label("Choose a password").fill("a long new passphrase")
        newcomer.get_by_label("Password again").fill("a long new passphrase")
        newcomer.get_by_role("button", name="Create account and join").click()
        newcomer.wait_for_url(live_server + "/organizer/")
        assert newcomer.get_by_text("Welcome to the team of").is_visible()
    finally:
        context.close()
