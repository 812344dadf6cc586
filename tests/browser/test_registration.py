"""Registering in the real browser: two tickets with a question, by mouse and by keyboard only, and
the error state. The ticket page's QR codes are read back from a screenshot."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from eventsite.events.models import QuestionKind
from eventsite.extensions import db
from eventsite.registration.models import Order
from tests.factories import make_event, make_question, make_ticket_type

pytestmark = pytest.mark.browser


@pytest.fixture
def evening(app, organizer):
    with app.app_context():
        e = make_event(organizer["organization_id"], slug="mentoring-night", title="Mentoring Night")
        tt = make_ticket_type(e, name="General", capacity=20, max_per_order=4)
        q = make_question(e, label="Which table?", kind=QuestionKind.SINGLE_CHOICE,
                          options=["Finance", "Tech", "Health"], required=True)
        ids = {"type": tt.id, "question": q.id}
        db.session.remove()
    return ids


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def _order(app) -> dict:
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        data = {"token": order.token, "answers": order.answers,
                "tickets": {t.secret: t.attendee_name for t in order.tickets}}
        db.session.remove()
    return data


def _decode_screenshot(page) -> set[str]:
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    return {r.text for r in zxingcpp.read_barcodes(image)}


def _check_ticket_page(page, app, live_server, evening):
    page.wait_for_url(re.compile(r".*/tickets/[A-Z0-9]+$"))
    order = _order(app)
    assert page.url == f"{live_server}/tickets/{order['token']}"
    assert sorted(order["tickets"].values()) == ["Dana Okafor", "Eli Chen"]
    assert order["answers"] == {str(evening["question"]): "Tech"}
    assert page.locator("svg.qr").count() == 2
    assert page.get_by_role("img", name=re.compile("QR code of ticket 2, Eli Chen")).is_visible()
    assert "You are registered" in page.locator(".flashes").inner_text()
    assert _decode_screenshot(page) == set(order["tickets"])


def test_two_tickets_and_a_question_then_two_qr_codes(live_server, page, app, evening):
    problems = _watch(page)
    page.goto(live_server + "/events/mentoring-night")
    attendee = page.get_by_label("Ticket 2: attendee's name")
    assert attendee.count() == 0 or not attendee.is_visible()
    page.get_by_label("Your name").fill("Dana Okafor")
    page.get_by_label("Your email").fill("dana@example.org")
    page.get_by_label("General").select_option("2")
    attendee = page.get_by_label("Ticket 2: attendee's name")
    attendee.wait_for(state="visible")
    assert page.get_by_role("group", name="Ticket 2: General").is_visible()
    attendee.fill("Eli Chen")
    page.get_by_label("Tech").check()
    page.get_by_role("button", name="Register").click()
    _check_ticket_page(page, app, live_server, evening)
    assert problems == [], problems


def test_fewer_tickets_hide_and_do_not_send_the_extra_names(live_server, page, app, evening):
    page.goto(live_server + "/events/mentoring-night")
    page.get_by_label("General").select_option("3")
    page.get_by_label("Ticket 3: attendee's name").fill("Somebody Extra")
    page.get_by_label("General").select_option("2")
    assert not page.get_by_label("Ticket 3: attendee's name").is_visible()
    page.get_by_label("Your name").fill("Dana Okafor")
    page.get_by_label("Your email").fill("dana@example.org")
    page.get_by_label("Ticket 2: attendee's name").fill("Eli Chen")
    page.get_by_label("Tech").check()
    page.get_by_role("button", name="Register").click()
    _check_ticket_page(page, app, live_server, evening)


def _tab_to(page, selector: str, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_the_same_flow_with_the_keyboard_only(live_server, page, app, evening):
    problems = _watch(page)
    page.goto(live_server + "/events/mentoring-night")
    _tab_to(page, f"#quantity-{evening['type']}")
    page.keyboard.press("ArrowDown")  # 1 -> 2 on a closed select
    assert page.locator(f"#quantity-{evening['type']}").input_value() == "2"
    _tab_to(page, "#name")
    page.keyboard.type("Dana Okafor")
    page.keyboard.press("Tab")
    page.keyboard.type("dana@example.org")
    _tab_to(page, "#attendee-1-name")
    page.keyboard.type("Eli Chen")
    _tab_to(page, f"input[name='question-{evening['question']}']")
    page.keyboard.press("Space")  # the first option, Finance
    page.keyboard.press("ArrowDown")  # moves to Tech and checks it
    assert page.get_by_label("Tech").is_checked()
    _tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    _check_ticket_page(page, app, live_server, evening)
    assert problems == [], problems


def test_a_bad_email_shows_its_message_and_focus_moves_to_the_summary(live_server, page, app, evening):
    problems = _watch(page)
    page.goto(live_server + "/events/mentoring-night")
    page.get_by_label("Your name").fill("Dana Okafor")
    page.get_by_label("Your email").fill("dana@example")
    page.get_by_label("Tech").check()
    page.get_by_role("button", name="Register").click()
    page.wait_for_load_state()
    summary = page.locator("#form-errors")
    summary.wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "form-errors"
    assert page.get_by_role("alert").filter(has_text="Your email").count() == 1
    email = page.get_by_label("Your email")
    assert email.input_value() == "dana@example"
    assert email.get_attribute("aria-invalid") == "true"
    message = page.locator("#email-error")
    assert message.is_visible() and message.inner_text().startswith("Enter a valid email address")
    assert "email-error" in email.get_attribute("aria-describedby").split()
    # The message sits right under the field.
    field_box, message_box = email.bounding_box(), message.bounding_box()
    assert 0 <= message_box["y"] - (field_box["y"] + field_box["height"]) < 80
    # The summary's link takes the keyboard to the field.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "email"
    # Chromium logs the 422 answer itself; nothing else (no CSP violation, no script error).
    assert [p for p in problems if "status of 422" not in p] == [], problems
    with app.app_context():
        assert db.session.scalars(select(Order)).all() == []
        db.session.remove()


def _assert_fits(page, width: int = 360) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"page is {scroll}px wide on a {width}px screen"


def test_form_and_ticket_page_fit_a_phone(live_server, phone_page, app, evening):
    problems = _watch(phone_page)
    phone_page.goto(live_server + "/events/mentoring-night")
    phone_page.get_by_label("General").select_option("4")
    phone_page.get_by_label("Ticket 4: attendee's name").wait_for(state="visible")
    _assert_fits(phone_page)
    phone_page.get_by_label("Your name").fill("Dana Okafor")
    phone_page.get_by_label("Your email").fill("dana@example.org")
    for n, name in ((2, "Eli Chen"), (3, "Fatima Noor"), (4, "Grace Hopper")):
        phone_page.get_by_label(f"Ticket {n}: attendee's name").fill(name)
    phone_page.get_by_label("Health").check()
    phone_page.get_by_role("button", name="Register").click()
    phone_page.wait_for_url(re.compile(r".*/tickets/[A-Z0-9]+$"))
    assert phone_page.locator("svg.qr").count() == 4
    _assert_fits(phone_page)
    qr = phone_page.locator("svg.qr").first.bounding_box()
    assert qr["width"] >= 200  # big enough to scan off the screen
    assert problems == [], problems
