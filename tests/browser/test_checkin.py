"""The check-in screen in Chromium, driven as door staff would: the camera (a fake one, fed a video of
a real ticket's QR code), a keyboard-wedge scanner, search and tap, and two doors at once."""
from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from eventsite.extensions import db
from eventsite.registration.qr import qr_png
from tests.checkin import conftest as checkin
from tests.checkin.conftest import scans, ticket
from tests.conftest import CHROMIUM

# The check-in tests' fixtures (an event at the door, tickets registered through the real service).
door = checkin.door
tickets = checkin.tickets

pytestmark = pytest.mark.browser

BASE_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
# Runs in the page before its own scripts (Playwright injects it past the CSP): records violations.
CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sourceFile || '')));
"""


# --- helpers ----------------------------------------------------------------------------------

def watch(page) -> list[str]:
    """Script errors and CSP violations of the page, collected as they happen."""
    problems: list[str] = []
    page.add_init_script(CSP_PROBE)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def log_in(page, live_server: str, email: str, password: str = "correct horse battery") -> None:
    page.goto(live_server + "/organizer/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server + "/organizer/")


def open_screen(page, live_server: str, door, *, door_label: str | None = "Door A") -> None:
    page.goto(live_server + door.screen)
    page.wait_for_selector("#checkin[data-ready=true]")
    if door_label is not None:
        page.get_by_label("Which door are you at?").fill(door_label)
        page.get_by_role("button", name="Save door").click()
        assert page.locator("#door-name").inner_text() == door_label


def result_of(page, kind: str, timeout: int = 10_000):
    page.wait_for_selector(f"#result.result-{kind}", timeout=timeout)
    return page.locator("#result")


def assert_clean(page, problems: list[str]) -> None:
    assert page.evaluate("window.__csp") == [], "CSP violations"
    assert problems == [], problems


def assert_fits(page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    wide = page.evaluate("""w => [...document.querySelectorAll('main *')]
        .filter(el => el.getClientRects().length && el.getBoundingClientRect().right > w + 0.5)
        .map(el => el.tagName + '#' + el.id + '.' + el.className)""", width)
    assert wide == []


def write_y4m(path, png: bytes, *, width: int = 640, height: int = 480, frames: int = 45, fps: int = 15) -> None:
    """A few seconds of video (YUV 4:2:0, the format Chromium's fake camera reads) showing the QR code
    on white, as a phone held up to a printed ticket would see it."""
    import io

    code = Image.open(io.BytesIO(png)).convert("L")
    side = min(width, height) - 100
    code = code.resize((side, side), Image.NEAREST)
    frame = Image.new("L", (width, height), 255)
    frame.paste(code, ((width - side) // 2, (height - side) // 2))
    ycbcr = frame.convert("RGB").convert("YCbCr")  # full range, as C420jpeg says
    y, cb, cr = ycbcr.split()
    cb = cb.resize((width // 2, height // 2), Image.BOX)
    cr = cr.resize((width // 2, height // 2), Image.BOX)
    payload = y.tobytes() + cb.tobytes() + cr.tobytes()
    assert len(payload) == width * height * 3 // 2
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            fh.write(b"FRAME\n")
            fh.write(payload)


# --- (a) the camera ---------------------------------------------------------------------------

def test_the_camera_reads_a_real_tickets_qr_code_and_welcomes(browser, live_server, app, door, tickets, tmp_path):
    [secret] = tickets(name="Camila Camera", answers={str(door.diet_question_id): "Gluten-free"})
    video = tmp_path / "ticket.y4m"
    write_y4m(video, qr_png(secret))  # the PNG the confirmation email carries

    camera_browser = browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True,
        args=BASE_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                          f"--use-file-for-fake-video-capture={video}"],
    )
    try:
        context = camera_browser.new_context(viewport={"width": 412, "height": 900}, is_mobile=True, has_touch=True,
                                             permissions=["camera"])
        page = context.new_page()
        page.set_default_timeout(15_000)
        problems = watch(page)
        log_in(page, live_server, door.staff_email)
        open_screen(page, live_server, door, door_label="Garden gate")

        page.get_by_role("button", name="Start camera").click()
        page.wait_for_selector("#checkin[data-camera=on]")
        assert page.get_by_role("button", name="Stop camera").is_visible()
        panel = result_of(page, "ok", timeout=20_000)
        assert "Welcome, Camila Camera!" in panel.inner_text()
        assert "Gluten-free" in panel.inner_text() and "General admission" in panel.inner_text()
        # The camera keeps seeing the same code: it is not sent again and again.
        page.wait_for_timeout(1500)
        assert "result-ok" in page.locator("#result").get_attribute("class")
        page.get_by_role("button", name="Stop camera").click()
        assert page.locator("#camera-view").is_hidden()
        expect(page.locator('#count-in')).to_have_text('1', timeout=6000)
        assert_clean(page, problems)
        context.close()
    finally:
        camera_browser.close()
    with app.app_context():
        logged = scans()
        assert [(s.result, s.method, s.door) for s in logged] == [("ok", "camera", "Garden gate")]
        assert ticket(secret).checked_in_at is not None
        db.session.remove()


def test_a_refused_camera_is_explained(browser, live_server, door):
    context = browser.new_context()  # no camera permission, no fake device: the browser says no
    page = context.new_page()
    problems = watch(page)
    log_in(page, live_server, door.staff_email)
    open_screen(page, live_server, door)
    page.get_by_role("button", name="Start camera").click()
    page.wait_for_selector("#checkin[data-camera=error]")
    status = page.locator("#camera-status").inner_text()
    assert re.search(r"may not use the camera|No camera was found|camera is busy", status), status
    assert page.get_by_role("button", name="Start camera").is_visible()
    # The rest of the screen still works: the focus is back in the code field.
    assert page.evaluate("document.activeElement.id") == "code"
    assert page.evaluate("window.__csp") == []
    assert [p for p in problems if "Content Security Policy" in p] == []
    context.close()


# --- (b) a keyboard-wedge scanner -------------------------------------------------------------

def test_keyboard_wedge_welcome_then_already_then_undo(page, live_server, app, door, tickets):
    [secret] = tickets(name="Wanda Wedge")
    problems = watch(page)
    log_in(page, live_server, door.staff_email)
    open_screen(page, live_server, door, door_label="Door B")
    assert page.evaluate("document.activeElement.id") == "code"  # ready for the scanner at once

    page.keyboard.type(secret + "\n", delay=5)  # what a USB scanner does: the code, then Enter
    panel = result_of(page, "ok")
    assert "Welcome, Wanda Wedge!" in panel.inner_text()
    assert panel.get_attribute("aria-live") == "assertive"
    assert page.locator("#code").input_value() == ""
    expect(page.locator('#count-in')).to_have_text('1')

    # Someone clicked on a button in between: the next scan still lands in the code field, and the
    # scanner's Enter does not press that button.
    page.get_by_role("button", name="Start camera").focus()
    page.keyboard.type(secret.lower() + "\n", delay=5)
    panel = result_of(page, "already_checked_in")
    text = panel.inner_text()
    assert "Already checked in" in text and "at Door B by Dora Door" in text
    assert page.locator("#checkin").get_attribute("data-camera") is None  # the camera was not started

    # Undo the first one (the undo button sits under a welcome).
    page.keyboard.type("NOSUCHTICKETCODE\n", delay=5)
    assert "Unknown code" in result_of(page, "unknown").inner_text()
    with app.app_context():
        ok_scan = scans()[0].id
        db.session.remove()
    page.evaluate("""([url, id, csrf]) => fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json',
        'X-CSRFToken': csrf, 'Accept': 'application/json'}, body: JSON.stringify({scan_id: id})})""",
                  [f"{live_server}{door.screen}/undo", ok_scan,
                   page.locator('meta[name="csrf-token"]').get_attribute("content")])
    expect(page.locator('#count-in')).to_have_text('0', timeout=6000)
    page.keyboard.type(secret + "\n", delay=5)
    assert "Welcome, Wanda Wedge!" in result_of(page, "ok").inner_text()
    page.get_by_role("button", name="Undo this check-in").click()
    assert "no longer checked in" in result_of(page, "undone").inner_text()
    expect(page.locator('#count-in')).to_have_text('0', timeout=6000)
    assert page.evaluate("document.activeElement.id") == "code"
    assert_clean(page, problems)
    with app.app_context():
        assert [(s.action, s.result) for s in scans()] == [
            ("check_in", "ok"), ("check_in", "already_checked_in"), ("check_in", "unknown"), ("undo", "undone"),
            ("check_in", "ok"), ("undo", "undone")]
        assert ticket(secret).checked_in_at is None
        db.session.remove()


def test_the_door_is_remembered_on_the_device(page, live_server, door, tickets):
    [secret] = tickets(name="Dot Door")
    log_in(page, live_server, door.staff_email)
    open_screen(page, live_server, door, door_label="North stairs")
    page.reload()
    page.wait_for_selector("#checkin[data-ready=true]")
    assert page.locator("#door-form").is_hidden()
    assert page.locator("#door-name").inner_text() == "North stairs"
    page.keyboard.type(secret + "\n")
    result_of(page, "ok")
    page.keyboard.type(secret + "\n")
    assert "at North stairs" in result_of(page, "already_checked_in").inner_text()


# --- (c) search and tap -----------------------------------------------------------------------

def test_search_as_you_type_and_tap_check_in_on_a_phone(phone_page, live_server, app, door, tickets):
    page = phone_page
    tickets(name="Sara Search", email="sara@example.org")
    tickets(name="Sam Other")
    [unpaid] = tickets(name="Sara Unpaid", paid=True)
    problems = watch(page)
    log_in(page, live_server, door.staff_email)
    open_screen(page, live_server, door, door_label="Lobby")
    assert_fits(page)

    page.get_by_label("Name, email or order code").type("sara", delay=40)
    page.wait_for_selector("#search-results li >> nth=1")
    items = page.locator("#search-results li")
    assert items.count() == 2
    assert "2 tickets." in page.locator("#search-status").inner_text()
    unpaid_item = items.filter(has_text="Sara Unpaid")
    assert "Unpaid" in unpaid_item.inner_text() and unpaid_item.get_by_role("button").count() == 0
    page.get_by_role("button", name="Check in Sara Search").click()
    panel = result_of(page, "ok")
    assert "Welcome, Sara Search!" in panel.inner_text()
    # The list follows: she is shown as checked in, without a button.
    expect(page.locator("#search-results .search-checked_in")).to_have_count(1)
    assert page.get_by_role("button", name="Check in Sara Search").count() == 0
    assert_fits(page)
    assert_clean(page, problems)
    with app.app_context():
        assert [(s.result, s.method, s.door) for s in scans()] == [("ok", "search", "Lobby")]
        assert ticket(unpaid).checked_in_at is None
        db.session.remove()


# --- (d) two doors, one ticket, the same moment -----------------------------------------------

def test_two_doors_scanning_one_ticket_at_once_one_welcome_one_already(browser, live_server, app, door, tickets,
                                                                       organizer):
    [secret] = tickets(name="Twin Tessa")
    [other] = tickets(name="Later Larry")
    pages = []
    contexts = []
    for email, label in ((door.staff_email, "Door A"), (organizer["email"], "Door B")):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        log_in(page, live_server, email)
        open_screen(page, live_server, door, door_label=label)
        page.locator("#code").fill(secret)
        contexts.append(context)
        pages.append(page)

    # Both press Enter at (as good as) the same moment: the two requests race on the server.
    for page in pages:
        page.evaluate("document.getElementById('scan-form').requestSubmit()")
    classes = []
    for page in pages:
        page.wait_for_selector("#result.result-ok, #result.result-already_checked_in")
        classes.append(page.locator("#result").get_attribute("class"))
    assert sorted(c.split()[-1] for c in classes) == ["result-already_checked_in", "result-ok"]
    texts = [p.locator("#result").inner_text() for p in pages]
    assert sum("Welcome, Twin Tessa!" in t for t in texts) == 1
    assert sum("Already checked in" in t for t in texts) == 1

    # The counter follows the other door within 5 seconds (polling, no reload).
    pages[1].locator("#code").fill(other)
    pages[1].evaluate("document.getElementById('scan-form').requestSubmit()")
    result_of(pages[1], "ok")
    expect(pages[0].locator('#count-in')).to_have_text('2', timeout=5000)
    assert pages[0].locator("#count-expected").inner_text() == "2"
    for context in contexts:
        context.close()
    with app.app_context():
        assert sorted(s.result for s in scans()) == ["already_checked_in", "ok", "ok"]
        db.session.remove()


def test_the_organizer_report_in_the_browser(page, live_server, door, tickets, organizer):
    [secret] = tickets(name="Report Rosa")
    problems = watch(page)
    log_in(page, live_server, organizer["email"])
    open_screen(page, live_server, door)
    page.keyboard.type(secret + "\n")
    result_of(page, "ok")
    page.goto(f"{live_server}/organizer/events/{door.slug}/checkin/report")
    assert page.get_by_role("link", name="Check-in", exact=True).get_attribute("aria-current") == "page"
    chart = page.get_by_role("img", name="Arrivals per 15 minutes")
    assert chart.is_visible()
    assert page.locator("table.scan-log").inner_text().count("Report Rosa") == 1
    page.get_by_label("Result").select_option("unknown")
    page.get_by_role("button", name="Filter").click()
    assert "No scans match these filters." in page.content()
    assert_clean(page, problems)
