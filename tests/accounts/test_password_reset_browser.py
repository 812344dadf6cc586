"""A forgotten password, reset in the real browser: from the login page's link to the email's link
to logging in with the new password, with the keyboard where a person would use it."""
from __future__ import annotations

import re

import pytest

from eventsite.extensions import db

pytestmark = pytest.mark.browser
RESET_RE = re.compile(r"http://eventsite\.test(/organizer/password/reset/[A-Za-z0-9_.\-]+)")


def test_reset_a_forgotten_password_in_the_browser(app, live_server, page, organizer, mailbox):
    from eventsite.core.mail.worker import deliver_due

    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(live_server + "/organizer/login")
    page.get_by_role("link", name="Forgot password?").click()
    page.wait_for_url(live_server + "/organizer/password/forgot")
    page.get_by_label("Email").fill(organizer["email"])
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text().startswith("If an account uses that email")

    with app.app_context():
        deliver_due()
        db.session.remove()
    [mail] = mailbox.to(organizer["email"])
    path = RESET_RE.search(mail.message.get_body(("plain",)).get_content()).group(1)

    page.goto(live_server + path)
    assert page.get_by_label("Email").input_value() == organizer["email"]
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Save my new password").click()
    page.wait_for_load_state()
    assert "Use at least 10 characters." in page.get_by_role("alert").inner_text()
    page.get_by_label("New password", exact=True).fill("my new long passphrase")
    page.get_by_label("New password again").fill("my new long passphrase")
    page.get_by_role("button", name="Save my new password").click()
    page.wait_for_url(live_server + "/organizer/login")
    assert page.get_by_text("Your password is changed").is_visible()

    page.get_by_label("Email").fill(organizer["email"])
    page.get_by_label("Password").fill("my new long passphrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server + "/organizer/")
    page.goto(live_server + path)  # the link worked once
    assert page.get_by_role("heading", name="This link was already used").is_visible()
    assert problems == []
