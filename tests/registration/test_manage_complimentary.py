"""Complimentary tickets: the organizer's guests, free, counted against capacity and not as revenue,
on a draft event and hidden ticket types too."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from eventsite.core.mail.models import OutboxMessage
from eventsite.events.models import Event, EventStatus, TicketType
from eventsite.extensions import db
from eventsite.registration.models import Order, OrderSource, OrderStatus, Ticket
from tests.conftest import post_form
from tests.registration.manage_support import (
    field_error,
    in_app,
    make_setup,
    register,
    table_rows,
    text_of,
)


@pytest.fixture
def reg(app, organizer):
    """The event of manage_support.make_setup: published, Europe/Berlin, two free types, three questions."""
    return in_app(app, make_setup, organizer["organization_id"])


def _counts(app):
    def read():
        return (db.session.scalar(select(func.count()).select_from(Order)),
                db.session.scalar(select(func.count()).select_from(Ticket)),
                db.session.scalar(select(func.count()).select_from(OutboxMessage)))
    return in_app(app, read)


def _draft_with_hidden_paid_type(app, organizer):
    """A draft event whose "VIP table" costs 50.00 and is hidden from the public page (capacity 10)."""
    def make():
        s = make_setup(organizer["organization_id"], slug="draft-gala", status=EventStatus.DRAFT, vip_price=5000)
        db.session.get(TicketType, s.vip_id).hidden = True
        db.session.commit()
        return s
    return in_app(app, make)


def test_complimentary_tickets_on_a_draft_event_count_against_capacity_not_revenue(app, organizer, organizer_client):
    s = _draft_with_hidden_paid_type(app, organizer)
    url = f"{s.base}/complimentary"
    form = organizer_client.get(url).get_data(as_text=True)
    assert '<label for="name">' in form and '<label for="attendees">' in form
    assert "VIP table (0/10 taken, hidden)" in form

    response = post_form(organizer_client, url, {
        "name": "Sofia Speaker", "email": "Sofia@Example.org", "ticket_type": str(s.vip_id), "quantity": "3",
        "attendees": "Maya Chen, maya@example.org\n\nLena Ortiz\n",
    })
    assert response.status_code == 302
    assert "/orders/" in response.headers["Location"]

    def read():
        order = db.session.scalars(select(Order)).one()
        return {
            "status": order.status, "source": order.source, "total": order.total_cents,
            "email": order.buyer_email,
            "tickets": [(t.attendee_name, t.attendee_email, t.price_cents, t.ticket_type_id) for t in order.tickets],
            "sold": db.session.get(TicketType, s.vip_id).sold, "event_sold": db.session.get(Event, s.event_id).sold,
            "outbox": [m.key for m in db.session.scalars(select(OutboxMessage))],
            "id": order.id, "event_status": db.session.get(Event, s.event_id).status,
        }

    data = in_app(app, read)
    assert data["status"] == OrderStatus.CONFIRMED and data["source"] == OrderSource.COMPLIMENTARY
    assert data["total"] == 0 and data["email"] == "sofia@example.org"
    assert data["tickets"] == [("Sofia Speaker", "sofia@example.org", 0, s.vip_id),
                               ("Maya Chen", "maya@example.org", 0, s.vip_id),
                               ("Lena Ortiz", None, 0, s.vip_id)]
    assert data["sold"] == 3 and data["event_sold"] == 3  # counted against capacity
    assert data["outbox"] == [f"confirmation:{data['id']}"]  # the guest gets her tickets
    assert data["event_status"] == EventStatus.DRAFT

    page = organizer_client.get(response.headers["Location"], follow_redirects=True)
    assert "3 complimentary tickets for Sofia Speaker added" in text_of(page.get_data(as_text=True))
    listing = organizer_client.get(f"{s.base}/registrations").get_data(as_text=True)
    counts = {r["Ticket type"]: r for r in table_rows(listing, "reg-counts")}
    vip = counts["VIP table hidden"]
    assert vip["Sold / capacity"] == "3 / 10" and vip["Complimentary"] == "3" and vip["Confirmed"] == "3"
    assert vip["Revenue"] == "—"  # not revenue, although the type costs 50.00


def test_missing_extra_names_take_the_guests_name(app, reg, organizer_client):
    response = post_form(organizer_client, f"{reg.base}/complimentary", {
        "name": "Table Host", "email": "host@example.org", "ticket_type": str(reg.general_id), "quantity": "3",
        "attendees": "",
    })
    assert response.status_code == 302
    names = in_app(app, lambda: [t.attendee_name for t in db.session.scalars(select(Ticket).order_by(Ticket.id))])
    assert names == ["Table Host", "Table Host", "Table Host"]


def test_bad_input_is_shown_next_to_its_field_and_nothing_is_written(app, reg, organizer_client):
    url = f"{reg.base}/complimentary"
    cases = [
        ({"name": "", "email": "a@example.org"}, "name", "Enter the guest’s name."),
        ({"name": "Ann", "email": "not-an-email"}, "email", "Enter a valid email address"),
        ({"name": "Ann\u202eevil", "email": "a@example.org"}, "name", "no line breaks or control characters"),
        ({"name": "Ann", "email": "a@example.org", "quantity": "0"}, "quantity", "Choose from 1 to 100 tickets."),
        ({"name": "Ann", "email": "a@example.org", "quantity": "abc"}, "quantity", "Not a valid integer value."),
        ({"name": "Ann", "email": "a@example.org", "ticket_type": "999999"}, "ticket_type", "Not a valid choice."),
        ({"name": "Ann", "email": "a@example.org", "quantity": "2", "attendees": "Bo\nCy"}, "attendees",
         "Line 2: You chose 2 tickets: remove this name or choose more tickets."),
        ({"name": "Ann", "email": "a@example.org", "quantity": "2", "attendees": "Bo, bad@"}, "attendees",
         "Line 1: Enter a valid email address"),
        ({"name": "Ann", "email": "a@example.org", "ticket_type": str(reg.vip_id), "quantity": "11"}, "quantity",
         "Only 10 of “VIP table” are left; choose 10 or fewer."),
    ]
    for data, field, message in cases:
        body = {"ticket_type": str(reg.general_id), "quantity": "1", "attendees": "", **data}
        response = post_form(organizer_client, url, body)
        assert response.status_code == 422, (data, response.status_code)
        html = response.get_data(as_text=True)
        error = field_error(html, field)
        assert error and message in error, (data, error)
        assert 'role="alert"' in html  # the summary at the top of the form
        assert _counts(app) == (0, 0, 0), data
    # What she typed is kept.
    response = post_form(organizer_client, url, {"name": "Ann Keep", "email": "bad", "ticket_type": str(reg.general_id),
                                                 "quantity": "1"})
    assert 'value="Ann Keep"' in response.get_data(as_text=True)


def test_an_email_already_registered_is_refused(app, reg, organizer_client):
    register(app, reg.event_id, name="Ada", email="ada@example.org", quantities={reg.general_id: 1})
    response = post_form(organizer_client, f"{reg.base}/complimentary", {
        "name": "Ada Again", "email": "ADA@example.org", "ticket_type": str(reg.general_id), "quantity": "1"})
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "email") == "This email address is already registered for this event."
    assert _counts(app)[0] == 1


def test_a_cancelled_event_takes_no_guests(app, organizer, organizer_client):
    def make():
        s = make_setup(organizer["organization_id"], slug="called-off")
        db.session.get(Event, s.event_id).status = EventStatus.CANCELLED
        db.session.commit()
        return s
    s = in_app(app, make)
    page = organizer_client.get(f"{s.base}/complimentary")
    assert "This event is cancelled: no tickets can be added." in text_of(page.get_data(as_text=True))
    from tests.conftest import csrf_from

    response = organizer_client.post(f"{s.base}/complimentary", data={
        "csrf_token": csrf_from(organizer_client.get(f"{s.base}/registrations").data),
        "name": "Ann", "email": "ann@example.org", "ticket_type": str(s.general_id), "quantity": "1"})
    assert response.status_code == 422  # the service refused: RegistrationClosedError
    assert "This event is cancelled: no tickets can be added." in text_of(response.get_data(as_text=True))
    assert _counts(app) == (0, 0, 0)
