"""An order as the organizer sees it: buyer, tickets, answers, history; cancel (order or one ticket,
with a confirmation step) and resend the confirmation."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from eventsite.core.mail.models import OutboxMessage
from eventsite.events.models import Question, TicketType
from eventsite.extensions import db
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus
from tests.conftest import csrf_from
from tests.registration.manage_support import (
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


def _ada(app, reg):
    return register(app, reg.event_id, name="Ada Lovelace", email="ada@example.org", quantities={reg.general_id: 2},
                    attendees=[{"name": "Bea Bauer", "email": "bea@example.org"}],
                    answers={reg.diet_id: "Vegetarian", reg.topics_id: ["Tech", "Boards"], reg.photo_id: "on"})


def _state(app, order_id):
    def read():
        order = db.session.get(Order, order_id)
        return (order.status, [(t.attendee_name, t.status) for t in order.tickets],
                db.session.get(TicketType, order.tickets[0].ticket_type_id).sold,
                [m.key for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))])
    return in_app(app, read)


def test_the_order_page_shows_buyer_tickets_answers_and_history(app, organizer_client, reg):
    ada = _ada(app, reg)
    response = organizer_client.get(f"{reg.base}/orders/{ada['code']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = text_of(html)
    assert f"Order {ada['code']} Confirmed" in text
    assert "Name Ada Lovelace" in text and "ada@example.org" in text and "Total Free" in text
    assert "Source Registration form" in text and "Created " in text
    rows = table_rows(html, "stack-table")
    assert [(r["Attendee"], r["Ticket type"], r["Status"], r["Checked in"]) for r in rows] == [
        ("Ada Lovelace ada@example.org", "General admission", "Valid", "No"),
        ("Bea Bauer bea@example.org", "General admission", "Valid", "No"),
    ]
    assert "Dietary requirements Vegetarian" in text
    assert "Topics Tech, Boards" in text
    assert "Photos OK? Yes" in text
    # The code is found in any case; the actions are there.
    assert organizer_client.get(f"{reg.base}/orders/{ada['code'].lower()}").status_code == 200
    assert "Resend confirmation email" in text and "Cancel the whole order" in text


def test_answers_of_a_deleted_question_are_still_shown_as_such(app, organizer_client, reg):
    ada = _ada(app, reg)

    def delete():
        db.session.delete(db.session.get(Question, reg.diet_id))
        db.session.commit()

    in_app(app, delete)
    text = text_of(organizer_client.get(f"{reg.base}/orders/{ada['code']}").get_data(as_text=True))
    assert "Dietary requirements" not in text
    assert f"Deleted question #{reg.diet_id} deleted question Vegetarian" in text
    assert "Topics Tech, Boards" in text


def test_unanswered_questions_say_so(app, organizer_client, reg):
    cleo = register(app, reg.event_id, name="Cleo", email="cleo@example.org", quantities={reg.general_id: 1})
    text = text_of(organizer_client.get(f"{reg.base}/orders/{cleo['code']}").get_data(as_text=True))
    assert "Dietary requirements No answer" in text and "Topics No answer" in text
    assert "Photos OK? No " in text  # an unticked checkbox is an answer: no


def test_unknown_codes_and_other_events_orders_are_404(app, organizer, organizer_client, reg):
    other = in_app(app, make_setup, organizer["organization_id"], slug="other-dinner")
    theirs = register(app, other.event_id, name="Zoe", email="zoe@example.org", quantities={other.general_id: 1})
    for code in ("ZZZZZZZZ", theirs["code"], "bad-code!", "x" * 40):
        assert organizer_client.get(f"{reg.base}/orders/{code}").status_code == 404, code
    token = csrf_from(organizer_client.get(f"{reg.base}/registrations").data)
    assert organizer_client.post(f"{reg.base}/orders/{theirs['code']}/cancel", data={"csrf_token": token}).status_code == 404
    assert organizer_client.post(f"{reg.base}/orders/{theirs['code']}/resend", data={"csrf_token": token}).status_code == 404
    assert _state(app, theirs["id"])[0] == OrderStatus.CONFIRMED


def test_cancel_the_order_after_a_confirmation_step(app, organizer_client, reg):
    ada = _ada(app, reg)
    url = f"{reg.base}/orders/{ada['code']}/cancel"
    confirm = organizer_client.get(url)
    assert confirm.status_code == 200
    text = text_of(confirm.get_data(as_text=True))
    assert f"Cancel order {ada['code']}?" in text and "Ada Lovelace, Bea Bauer" in text
    assert _state(app, ada["id"])[0] == OrderStatus.CONFIRMED  # the GET changed nothing

    response = organizer_client.post(url, data={"csrf_token": csrf_from(confirm.data)}, follow_redirects=True)
    assert response.status_code == 200
    assert f"Order {ada['code']} is cancelled; ada@example.org has been told by email." in text_of(response.get_data(as_text=True))
    status, tickets, sold, keys = _state(app, ada["id"])
    assert status == OrderStatus.CANCELLED
    assert tickets == [("Ada Lovelace", TicketStatus.CANCELLED), ("Bea Bauer", TicketStatus.CANCELLED)]
    assert sold == 0
    assert keys == [f"confirmation:{ada['id']}", f"cancellation:order:{ada['id']}"]

    # The page now shows it cancelled, with no more actions; a second POST says it was already done.
    page = text_of(organizer_client.get(f"{reg.base}/orders/{ada['code']}").get_data(as_text=True))
    assert "Cancelled" in page and "Resend confirmation email" not in page
    again = organizer_client.post(url, data={"csrf_token": csrf_from(confirm.data)}, follow_redirects=True)
    assert "was already cancelled" in text_of(again.get_data(as_text=True))
    assert len(_state(app, ada["id"])[3]) == 2


def test_cancel_one_ticket(app, organizer_client, reg):
    ada = _ada(app, reg)
    bea_id = ada["tickets"][1]["id"]
    url = f"{reg.base}/orders/{ada['code']}/tickets/{bea_id}/cancel"
    order_page = organizer_client.get(f"{reg.base}/orders/{ada['code']}").get_data(as_text=True)
    assert f'href="{url}"' in order_page
    confirm = organizer_client.get(url)
    assert "Cancel Bea Bauer’s ticket?" in text_of(confirm.get_data(as_text=True))

    response = organizer_client.post(url, data={"csrf_token": csrf_from(confirm.data)}, follow_redirects=True)
    assert "Bea Bauer’s ticket is cancelled" in text_of(response.get_data(as_text=True))
    status, tickets, sold, keys = _state(app, ada["id"])
    assert status == OrderStatus.CONFIRMED
    assert tickets == [("Ada Lovelace", TicketStatus.VALID), ("Bea Bauer", TicketStatus.CANCELLED)]
    assert sold == 1
    assert keys[-1] == f"cancellation:ticket:{bea_id}"
    # Ada's own ticket is now the last one: no per-ticket link, cancel the order instead.
    assert "tickets/" not in organizer_client.get(f"{reg.base}/orders/{ada['code']}").get_data(as_text=True).split("Tickets")[1].split("Answers")[0]

    # A ticket id of another order is 404 under this order.
    cleo = register(app, reg.event_id, name="Cleo", email="cleo@example.org", quantities={reg.general_id: 1})
    assert organizer_client.get(f"{reg.base}/orders/{ada['code']}/tickets/{cleo['tickets'][0]['id']}/cancel").status_code == 404


def test_a_paid_order_is_refused_with_the_services_message(app, organizer, organizer_client):
    paid = in_app(app, make_setup, organizer["organization_id"], slug="paid-dinner", vip_price=2500)
    order = register(app, paid.event_id, name="Pat Payer", email="pat@example.org", quantities={paid.vip_id: 1})
    before = _state(app, order["id"])
    assert before[0] == OrderStatus.PENDING_PAYMENT
    url = f"{paid.base}/orders/{order['code']}/cancel"
    confirm = organizer_client.get(url)
    assert "it is cancelled whole by refunding it" in text_of(confirm.get_data(as_text=True))
    response = organizer_client.post(url, data={"csrf_token": csrf_from(confirm.data)}, follow_redirects=True)
    assert "A paid order is cancelled whole, with its refund" in text_of(response.get_data(as_text=True))
    assert _state(app, order["id"]) == before


def test_resend_the_confirmation(app, organizer_client, reg, runner, mailbox):
    ada = _ada(app, reg)
    page = organizer_client.get(f"{reg.base}/orders/{ada['code']}")
    assert organizer_client.get(f"{reg.base}/orders/{ada['code']}/resend").status_code == 405  # no change on GET
    response = organizer_client.post(f"{reg.base}/orders/{ada['code']}/resend",
                                     data={"csrf_token": csrf_from(page.data)}, follow_redirects=True)
    assert "The confirmation is on its way to ada@example.org again." in text_of(response.get_data(as_text=True))
    keys = _state(app, ada["id"])[3]
    assert keys == [f"confirmation:{ada['id']}", f"confirmation-resend:{ada['id']}:1"]
    assert "Confirmation resent 1 time" in text_of(response.get_data(as_text=True))

    assert runner.invoke(args=["worker", "--once"]).exit_code == 0
    received = mailbox.to("ada@example.org")
    assert len(received) == 2
    assert all(m.message["Subject"] == "Your tickets: Leaders Dinner" for m in received)
    assert ada["code"] in received[1].message.get_body(("plain",)).get_content()


def test_resend_of_a_cancelled_order_is_refused(app, organizer_client, reg):
    ada = _ada(app, reg)

    def cancel():
        from eventsite.registration.cancellation import cancel_order

        cancel_order(db.session.get(Order, ada["id"]))
        db.session.commit()

    in_app(app, cancel)
    page = organizer_client.get(f"{reg.base}/orders/{ada['code']}")
    response = organizer_client.post(f"{reg.base}/orders/{ada['code']}/resend",
                                     data={"csrf_token": csrf_from(page.data)}, follow_redirects=True)
    assert "Only a confirmed order with valid tickets can be sent again." in text_of(response.get_data(as_text=True))
    assert not any(k.startswith("confirmation-resend") for k in _state(app, ada["id"])[3])


def test_posts_without_csrf_are_refused(app, organizer_client, reg):
    ada = _ada(app, reg)
    for path in (f"orders/{ada['code']}/cancel", f"orders/{ada['code']}/resend",
                 f"orders/{ada['code']}/tickets/{ada['tickets'][1]['id']}/cancel"):
        assert organizer_client.post(f"{reg.base}/{path}").status_code == 400
    status, tickets, _, keys = _state(app, ada["id"])
    assert status == OrderStatus.CONFIRMED and len(keys) == 1
    assert all(s == TicketStatus.VALID for _, s in tickets)
    assert in_app(app, lambda: db.session.scalar(select(Ticket.checked_in_at).where(Ticket.id == ada["tickets"][0]["id"]))) is None
