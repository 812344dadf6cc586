"""Consent to the organizer's terms is recorded on the order: when she agreed and to which address.
Set by the registration service from the form's consent box; complimentary orders and events without
terms record nothing. The organizer sees it on the order page and in the CSV export."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from eventsite.core.db import utcnow
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Order
from eventsite.registration.services import register_attendees
from tests.factories import make_event, make_ticket_type
from tests.registration.views_helpers import html_of, in_app, register, text_of, token_from

TERMS = "https://example.org/circle/terms"


@pytest.fixture
def circle(app, organizer):
    """A published Berlin event with terms, and one free ticket type."""
    def make():
        e = make_event(organizer["organization_id"], slug="circle", title="Mentoring Circle", terms_url=TERMS,
                       timezone="Europe/Berlin")
        tt = make_ticket_type(e, name="Circle seat", capacity=20)
        return {"id": e.id, "type": tt.id}
    return in_app(app, make)


def _consent_of(app, email: str) -> tuple[datetime | None, str | None]:
    def read():
        order = db.session.scalar(select(Order).where(Order.buyer_email == email))
        return order.terms_accepted_at, order.terms_url
    return in_app(app, read)


def _form(circle, email="ada@example.org", **extra) -> dict:
    return {"name": "Ada Lovelace", "email": email, f"quantity-{circle['type']}": "1", **extra}


def test_the_form_records_when_she_agreed_and_to_which_terms(app, client, circle):
    before = utcnow()
    response = register(client, "circle", _form(circle, consent="y"))
    assert response.status_code == 303 and token_from(response)
    at, url = _consent_of(app, "ada@example.org")
    assert url == TERMS and at is not None and before <= at <= utcnow()

    # The organizer changes the link later: the order keeps the address she agreed to.
    def new_terms():
        db.session.get(Event, circle["id"]).terms_url = "https://example.org/circle/terms-v2"
        db.session.commit()
    in_app(app, new_terms)
    assert _consent_of(app, "ada@example.org")[1] == TERMS


def test_without_the_box_ticked_nothing_is_written(app, client, circle):
    response = register(client, "circle", _form(circle))
    assert response.status_code == 422
    assert in_app(app, lambda: db.session.scalar(select(Order.id))) is None


def test_the_service_records_consent_only_when_it_is_given_and_there_are_terms(app, organizer, circle):
    def run():
        event = db.session.get(Event, circle["id"])
        no_terms = make_event(organizer["organization_id"], slug="no-terms")
        tt = make_ticket_type(no_terms, capacity=5)
        at = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
        given = register_attendees(event, buyer_name="Ada", buyer_email="ada@example.org",
                                   quantities={circle["type"]: 1}, terms_accepted=True, now=at)
        not_given = register_attendees(event, buyer_name="Bea", buyer_email="bea@example.org",
                                       quantities={circle["type"]: 1})
        guest = register_attendees(event, buyer_name="Cleo", buyer_email="cleo@example.org",
                                   quantities={circle["type"]: 1}, terms_accepted=True, source="complimentary")
        nothing_to_agree = register_attendees(no_terms, buyer_name="Dee", buyer_email="dee@example.org",
                                              quantities={tt.id: 1}, terms_accepted=True)
        db.session.commit()
        return [(o.terms_accepted_at, o.terms_url) for o in (given, not_given, guest, nothing_to_agree)]

    given, not_given, guest, nothing_to_agree = in_app(app, run)
    assert given == (datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc), TERMS)
    assert not_given == guest == nothing_to_agree == (None, None)


def test_the_organizer_sees_the_consent_on_the_order_page_and_in_the_csv(app, client, organizer_client, circle):
    at = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)  # 14:00 in Berlin

    def orders():
        event = db.session.get(Event, circle["id"])
        ada = register_attendees(event, buyer_name="Ada Lovelace", buyer_email="ada@example.org",
                                 quantities={circle["type"]: 2}, attendees=[{"name": "Bea Bauer"}],
                                 terms_accepted=True, now=at)
        cleo = register_attendees(event, buyer_name="Cleo Comp", buyer_email="cleo@example.org",
                                  quantities={circle["type"]: 1}, source="complimentary")
        db.session.commit()
        return ada.code, cleo.code
    ada, cleo = in_app(app, orders)

    page = text_of(html_of(organizer_client.get(f"/organizer/events/circle/orders/{ada}")))
    assert f"Terms Accepted Fri 01 May 2026, 14:00 (Europe/Berlin): {TERMS}" in page
    page = text_of(html_of(organizer_client.get(f"/organizer/events/circle/orders/{cleo}")))
    assert "Terms Not asked (complimentary)" in page

    body = organizer_client.get("/organizer/events/circle/registrations.csv").data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body, newline="")))
    header = list(rows[0])
    assert header[header.index("Checked in at (Europe/Berlin)") + 1:][:2] == [
        "Terms accepted at (Europe/Berlin)", "Terms URL"]
    by_name = {r["Attendee name"]: r for r in rows}
    for name in ("Ada Lovelace", "Bea Bauer"):  # the order's consent on each of its tickets
        assert by_name[name]["Terms accepted at (Europe/Berlin)"] == "2026-05-01 14:00"
        assert by_name[name]["Terms URL"] == TERMS
    assert by_name["Cleo Comp"]["Terms accepted at (Europe/Berlin)"] == "" and by_name["Cleo Comp"]["Terms URL"] == ""
