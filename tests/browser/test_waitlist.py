"""The waitlist in the real browser: a visitor sees the sold-out state on the event page and joins the
waitlist through its form; on a phone the waitlist page fits the screen; a freed seat is claimed
from the offer's link."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from eventsite.extensions import db
from eventsite.registration.models import (
    Order,
    OrderStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from tests.registration.waitlist_helpers import (
    SoldOut,
    cancel,
    in_db,
    join,
    make_sold_out,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def sold_out(app, organizer) -> SoldOut:
    """A published event whose only ticket type (capacity 1) is taken by Ada's order."""
    return make_sold_out(app, organizer["organization_id"])


def test_a_visitor_sees_sold_out_and_joins_the_waitlist_from_the_event_page(app, live_server, page, sold_out):
    page.goto(f"{live_server}/events/{sold_out.slug}")
    expect(page.locator("#ticket-type-" + str(sold_out.type_id))).to_contain_text("Sold out")
    form = page.locator("form.waitlist-form")
    expect(form).to_be_visible()
    form.get_by_label("Your name").fill("Wanda Waiting")
    form.get_by_label("Your email address").fill("wanda@example.org")
    expect(form.get_by_label("Ticket type")).to_have_value(str(sold_out.type_id))
    form.get_by_role("button", name="Join the waitlist").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("You're number 1 on the waitlist")
    expect(page.locator("main")).to_contain_text("wanda@example.org")
    assert re.search(r"/waitlist/[A-Z0-9]{26}$", page.url)
    with in_db(app):
        entry = db.session.scalar(select(WaitlistEntry))
        assert (entry.name, entry.email, entry.status) == ("Wanda Waiting", "wanda@example.org", WaitlistStatus.WAITING)


def test_on_a_phone_the_waitlist_page_shows_errors_by_the_fields_and_fits(app, live_server, phone_page, sold_out):
    phone_page.goto(f"{live_server}/events/{sold_out.slug}/waitlist")
    expect(phone_page.get_by_role("heading", level=1)).to_contain_text("Waitlist: Mentoring Circle")
    phone_page.get_by_label("Your name").fill("Wanda Waiting")
    phone_page.get_by_label("Your email address").fill("wanda@")
    # Past the browser's own check of the address, to see the server's answer (an old browser, say).
    phone_page.locator("form.waitlist-form").evaluate("f => { f.noValidate = true; }")
    phone_page.get_by_role("button", name="Join the waitlist").click()
    error = phone_page.locator("#waitlist-email-error")
    expect(error).to_contain_text("Enter a valid email address")
    expect(phone_page.get_by_label("Your email address")).to_have_attribute("aria-describedby", "waitlist-email-error")
    expect(phone_page.get_by_label("Your name")).to_have_value("Wanda Waiting")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width}px wide on a 360px screen"


def test_the_offer_link_claims_the_seat(app, live_server, page, sold_out):
    token = join(app, sold_out.event_id, "wanda@example.org")
    cancel(app, sold_out.order_id)
    page.goto(f"{live_server}/waitlist/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("A place is reserved for you")
    page.get_by_role("button", name="Claim my place").click()
    page.wait_for_url(re.compile(r"/tickets/[A-Z0-9]+$"))
    expect(page.locator("main")).to_contain_text("Wanda Waiting")
    with in_db(app):
        (order,) = db.session.scalars(select(Order).where(Order.buyer_email == "wanda@example.org")).all()
        assert order.status == OrderStatus.CONFIRMED and page.url.endswith(f"/tickets/{order.token}")
