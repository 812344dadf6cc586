"""In the real browser, without Stripe keys: choose a paid ticket, pay on the dev payment page, land on
the ticket page with its QR code; and give the seats up from the payment page."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from eventsite.extensions import db
from eventsite.registration.models import Order
from tests.factories import make_event, make_ticket_type

pytestmark = pytest.mark.browser


@pytest.fixture
def dev_payments(app, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", None)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", None)


@pytest.fixture
def gala(app, organizer):
    with app.app_context():
        event = make_event(organizer["organization_id"], slug="spring-gala", title="Spring Gala", currency="EUR",
                           refund_until_days_before=7)
        tt_id = make_ticket_type(event, name="Gala seat", price_cents=4500, currency="EUR", capacity=10).id
        db.session.remove()
    return tt_id


def _order(app) -> dict:
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        data = {"token": order.token, "status": order.status.value, "secrets": [t.secret for t in order.tickets]}
        db.session.remove()
    return data


def _problems(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def test_pay_on_the_dev_page_and_land_on_the_ticket_page(live_server, page, app, dev_payments, gala):
    problems = _problems(page)
    page.goto(live_server + "/events/spring-gala")
    assert "Refunds: full refund if you cancel by" in page.locator(".refund-policy").inner_text()
    page.get_by_label("Your name").fill("Dana Okafor")
    page.get_by_label("Your email").fill("dana@example.org")
    page.get_by_label("Gala seat").select_option("1")
    page.get_by_role("button", name=re.compile("Register|Continue|pay", re.IGNORECASE)).first.click()

    page.wait_for_url(re.compile(r".*/payments/dev/checkout/cs_dev_[a-z0-9]+$"))
    assert "Test payment — no money moves" in page.locator(".dev-banner").inner_text()
    assert _order(app)["status"] == "pending_payment"
    page.get_by_role("button", name="Pay €45.00 (test)").click()

    page.wait_for_url(re.compile(r".*/tickets/[A-Z0-9]+$"))
    order = _order(app)
    assert page.url == f"{live_server}/tickets/{order['token']}" and order["status"] == "confirmed"
    assert page.locator("svg.qr").count() == 1
    assert page.locator(".ticket-secret").inner_text() == order["secrets"][0]
    assert problems == []


def test_give_the_seats_up_from_the_payment_page_by_keyboard(live_server, page, app, dev_payments, gala):
    page.goto(live_server + "/events/spring-gala")
    page.get_by_label("Your name").fill("Eli Chen")
    page.get_by_label("Your email").fill("eli@example.org")
    page.get_by_label("Gala seat").select_option("1")
    page.get_by_role("button", name=re.compile("Register|Continue|pay", re.IGNORECASE)).first.click()
    page.wait_for_url(re.compile(r".*/payments/dev/checkout/"))
    cancel = page.get_by_role("button", name="Cancel and go back")
    cancel.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/payments/order/[A-Z0-9]+$"))
    assert "Your payment is not complete" in page.locator("h1").inner_text()
    give_up = page.get_by_role("button", name="Give up my seats")
    give_up.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/events/spring-gala$"))
    assert "Your seats are released" in page.locator(".flashes").inner_text()
    assert _order(app)["status"] == "cancelled"


def test_payment_pages_fit_a_phone(live_server, phone_page, app, dev_payments, gala, organizer):
    page = phone_page
    page.goto(live_server + "/events/spring-gala")
    page.get_by_label("Your name").fill("Fatima Al-Rashid with a rather long name indeed")
    page.get_by_label("Your email").fill("fatima.with.a.long.address@example.org")
    page.get_by_label("Gala seat").select_option("1")
    page.get_by_role("button", name=re.compile("Register|Continue|pay", re.IGNORECASE)).first.click()
    page.wait_for_url(re.compile(r".*/payments/dev/checkout/"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_role("button", name="Pay €45.00 (test)").click()
    page.wait_for_url(re.compile(r".*/tickets/[A-Z0-9]+$"))

    page.goto(live_server + "/organizer/login")
    page.get_by_label("Email").fill(organizer["email"])
    page.get_by_label("Password").fill(organizer["password"])
    page.get_by_role("button", name=re.compile("Log in", re.IGNORECASE)).click()
    page.wait_for_url(re.compile(r".*/organizer/?$"))
    page.goto(live_server + "/organizer/events/spring-gala/payments")
    assert "€45.00" in page.locator(".revenue-table").inner_text()
    assert page.get_by_role("link", name=re.compile("Refund order")).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
