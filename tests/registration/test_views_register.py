"""The registration form on the event page, driven like a browser without JavaScript would: what it
offers, a confirmed registration, several tickets with their attendees, the second step, consent,
and the payment hook."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from eventsite.core.mail.worker import deliver_due
from eventsite.events.models import QuestionKind
from eventsite.extensions import db
from eventsite.registration import views as registration_views
from tests.conftest import csrf_from, post_form
from tests.events.manage_helpers import create_event_via_form, event_form_data
from tests.factories import make_event, make_question, make_ticket_type
from tests.registration.views_helpers import (
    attribute,
    checked,
    control,
    counts,
    field_error,
    field_names,
    html_of,
    in_app,
    input_value,
    orders,
    register,
    select_options,
    sold,
    text_of,
    token_from,
)

STARTS = datetime(2031, 3, 8, 17, 30, tzinfo=timezone.utc)  # 18:30 in Berlin (CET)
ENDS = datetime(2031, 3, 8, 20, 30, tzinfo=timezone.utc)


@pytest.fixture
def evening(app, organizer):
    """A Berlin evening with a free, a paid, a hidden and a sold-out ticket type and four questions."""
    def make():
        e = make_event(organizer["organization_id"], slug="evening", title="Negotiation Evening",
                       starts_at=STARTS, ends_at=ENDS, timezone="Europe/Berlin")
        general = make_ticket_type(e, name="General", capacity=30, sold=26, max_per_order=6)
        supporter = make_ticket_type(e, name="Supporter", price_cents=2500, currency="EUR", capacity=50,
                                     max_per_order=3)
        hidden = make_ticket_type(e, name="Speaker comp", capacity=5, hidden=True)
        gone = make_ticket_type(e, name="Table of 8", capacity=2, sold=2)
        diet = make_question(e, label="Dietary requirements", kind=QuestionKind.SHORT_TEXT)
        track = make_question(e, label="Which table?", kind=QuestionKind.SINGLE_CHOICE,
                              options=["Finance", "Tech", "Health"], required=True)
        days = make_question(e, label="Which sessions?", kind=QuestionKind.MULTIPLE_CHOICE,
                             options=["Talks", "Dinner"])
        photos = make_question(e, label="Photos of me are fine", kind=QuestionKind.CHECKBOX)
        notes = make_question(e, label="Anything else?", kind=QuestionKind.LONG_TEXT)
        return {"slug": e.slug, "general": general.id, "supporter": supporter.id, "hidden": hidden.id,
                "gone": gone.id, "diet": diet.id, "track": track.id, "days": days.id, "photos": photos.id,
                "notes": notes.id}
    return in_app(app, make)


def test_the_event_page_offers_the_form_with_the_products_field_names(client, evening):
    html = html_of(client.get("/events/evening"))
    e = evening
    assert 'action="/events/evening/register"' in html and 'method="post"' in html
    assert csrf_from(html)
    # The optional networking profile (`networking-*`) is the connections domain's: tests/connections.
    names = {n for n in field_names(html) if not n.startswith("networking-")}
    assert names == {
        "csrf_token", "name", "email", f"quantity-{e['general']}", f"quantity-{e['supporter']}",
        f"question-{e['diet']}", f"question-{e['track']}", f"question-{e['days']}", f"question-{e['photos']}",
        f"question-{e['notes']}",
    }  # no select for the hidden or the sold-out type, no consent without terms
    # A select from 0 to min(max per order, what is left): 4 left of General, at most 3 Supporter.
    assert select_options(html, f"quantity-{e['general']}") == (["0", "1", "2", "3", "4"], "0")
    assert select_options(html, f"quantity-{e['supporter']}") == (["0", "1", "2", "3"], "0")
    # Each question with the right input, labelled.
    assert attribute(control(html, f"question-{e['diet']}"), "type") == "text"
    assert '<textarea' in html and f'name="question-{e["notes"]}"' in html
    assert html.count(f'name="question-{e["track"]}" required type="radio"') == 3
    assert html.count(f'name="question-{e["days"]}" type="checkbox"') == 2
    assert attribute(control(html, f"question-{e['photos']}"), "type") == "checkbox"
    for field_id in ("name", "email", f"question-{e['diet']}", f"quantity-{e['general']}", f"question-{e['photos']}"):
        assert f'for="{field_id}"' in html, field_id
    text = text_of(html)
    assert "Table of 8" in text and "Sold out" in text and "Speaker comp" not in text
    assert 'novalidate' in html and '<script src="/static/registration.js" defer></script>' in html


def test_one_free_ticket_goes_to_the_ticket_page_with_its_qr_code_and_an_email(app, client, evening, mailbox):
    response = register(client, "evening", {
        "name": "Dana Okafor", "email": "Dana@Example.org", f"quantity-{evening['general']}": "1",
        f"question-{evening['track']}": "Tech",
    })
    assert response.status_code == 303
    token = token_from(response)
    [order] = orders(app)
    assert order["token"] == token and order["status"] == "confirmed" and order["buyer_email"] == "dana@example.org"
    assert [t["name"] for t in order["tickets"]] == ["Dana Okafor"]
    assert sold(app, evening["general"]) == (27, 1)  # the type had 26 sold by the factory; the event counts claims

    page = client.get(response.headers["Location"])
    html = html_of(page)
    assert page.status_code == 200
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') == 1 and 'class="qr"' in html
    text = text_of(html)
    assert "You are registered" in text and "dana@example.org" in text
    assert "Negotiation Evening" in text and order["code"] in text and "Dana Okafor" in text

    with app.app_context():
        assert deliver_due() == 1
        db.session.remove()
    [mail] = mailbox.to("dana@example.org")
    body = mail.message.get_body(("plain",)).get_content()
    assert f"http://eventsite.test/tickets/{token}" in body


def test_two_tickets_with_attendee_names_and_answers(app, client, evening):
    e = evening
    response = register(client, "evening", {
        "name": "Dana Okafor", "email": "dana@example.org",
        f"quantity-{e['general']}": "2",
        "attendee-1-name": "Eli Chen", "attendee-1-email": "eli@example.org",
        f"question-{e['diet']}": "Vegetarian", f"question-{e['track']}": "Health",
        f"question-{e['days']}": ["Talks", "Dinner"], f"question-{e['photos']}": "y",
        f"question-{e['notes']}": "Arriving late,\nafter 19:00.",
    })
    assert response.status_code == 303, text_of(html_of(response))
    [order] = orders(app)
    assert [(t["name"], t["email"]) for t in order["tickets"]] == [
        ("Dana Okafor", "dana@example.org"), ("Eli Chen", "eli@example.org")]
    assert order["answers"] == {
        str(e["diet"]): "Vegetarian", str(e["track"]): "Health", str(e["days"]): ["Talks", "Dinner"],
        str(e["photos"]): True, str(e["notes"]): "Arriving late,\nafter 19:00.",
    }
    html = html_of(client.get(response.headers["Location"]))
    assert html.count('class="qr"') == 2
    assert "Eli Chen" in html and "Ticket 2 of 2" in text_of(html)
    assert "Vegetarian" in text_of(html)  # her answers are on her page


def test_without_javascript_a_second_step_asks_for_the_other_names(app, client, evening):
    e = evening
    first = register(client, "evening", {
        "name": "Dana Okafor", "email": "dana@example.org", f"quantity-{e['general']}": "3",
        f"question-{e['track']}": "Tech", f"question-{e['diet']}": "Vegan",
    })
    html = html_of(first)
    assert first.status_code == 200
    assert "One more step" in text_of(html) and "the other 2 tickets" in text_of(html)
    assert counts(app) == {"orders": 0, "tickets": 0, "outbox": 0}  # nothing written yet
    assert sold(app, e["general"]) == (26, 0)
    # What she typed is kept, and a name field for tickets 2 and 3 is there now.
    assert input_value(html, "name") == "Dana Okafor" and input_value(html, f"question-{e['diet']}") == "Vegan"
    assert select_options(html, f"quantity-{e['general']}")[1] == "3"
    assert checked(html, f"question-{e['track']}-1") and not checked(html, f"question-{e['track']}-0")  # Tech
    assert {"attendee-1-name", "attendee-2-name", "attendee-1-email", "attendee-2-email"} <= field_names(html)
    assert "attendee-3-name" not in field_names(html)
    assert "Ticket 2: attendee's name" in text_of(html) and "Ticket 3: General" in text_of(html)
    assert field_error(html, "attendee-1-name") is None  # not an error: a question

    data = {"csrf_token": csrf_from(html), "name": "Dana Okafor", "email": "dana@example.org",
            f"quantity-{e['general']}": "3", f"question-{e['track']}": "Tech",
            "attendee-1-name": "Eli Chen", "attendee-1-email": "", "attendee-2-name": "", "attendee-2-email": ""}
    second = client.post("/events/evening/register", data=data)
    assert second.status_code == 422  # the third name is missing
    assert field_error(html_of(second), "attendee-2-name") == "Enter the name of the person for ticket 3."
    assert input_value(html_of(second), "attendee-1-name") == "Eli Chen"
    assert counts(app)["orders"] == 0

    data["attendee-2-name"] = "Fatima Noor"
    third = client.post("/events/evening/register", data=data)
    assert third.status_code == 303
    [order] = orders(app)
    assert [t["name"] for t in order["tickets"]] == ["Dana Okafor", "Eli Chen", "Fatima Noor"]


def test_terms_set_in_the_editor_require_consent(app, client, organizer_client, organizer):
    created = create_event_via_form(organizer_client, title="Board Readiness", slug="board-readiness",
                                    terms_url="https://example.org/terms")
    assert created.status_code in (302, 303)
    edit_page = organizer_client.get("/organizer/events/board-readiness/edit")
    assert input_value(html_of(edit_page), "terms_url") == "https://example.org/terms"
    bad = post_form(organizer_client, "/organizer/events/board-readiness/edit",
                    event_form_data(title="Board Readiness", terms_url="javascript:alert(1)"))
    assert bad.status_code == 422 and field_error(html_of(bad), "terms_url")

    def publish():
        from sqlalchemy import select

        from eventsite.events.models import Event, EventStatus
        event = db.session.scalar(select(Event).where(Event.slug == "board-readiness"))
        assert event.terms_url == "https://example.org/terms"
        event.status = EventStatus.PUBLISHED
        tt = make_ticket_type(event, name="Seat", capacity=10)
        return tt.id
    tt_id = in_app(app, publish)

    html = html_of(client.get("/events/board-readiness"))
    assert "consent" in field_names(html)
    assert 'href="https://example.org/terms"' in html
    refused = register(client, "board-readiness", {"name": "Ada", "email": "ada@example.org", f"quantity-{tt_id}": "1"})
    assert refused.status_code == 422
    assert field_error(html_of(refused), "consent") == "Tick this box to agree to the organizer's terms and conditions."
    assert "consent-error" in attribute(control(html_of(refused), "consent"), "aria-describedby")
    assert counts(app)["orders"] == 0
    accepted = register(client, "board-readiness", {"name": "Ada", "email": "ada@example.org",
                                                    f"quantity-{tt_id}": "1", "consent": "y"})
    assert accepted.status_code == 303 and len(orders(app)) == 1


def test_a_single_ticket_type_is_preselected(app, client, organizer):
    def make():
        e = make_event(organizer["organization_id"], slug="breakfast")
        return make_ticket_type(e, name="Seat", capacity=40, max_per_order=4).id
    tt = in_app(app, make)
    html = html_of(client.get("/events/breakfast"))
    assert select_options(html, f"quantity-{tt}") == (["0", "1", "2", "3", "4"], "1")
    response = register(client, "breakfast", {"name": "Ada Lovelace", "email": "ada@example.org",
                                              f"quantity-{tt}": "1"})
    assert response.status_code == 303


def test_paid_tickets_go_to_the_payment_hook_when_payments_exist(app, client, evening, monkeypatch):
    seen = []

    def fake_start_payment(order):
        seen.append((order.status.value, order.total_cents, order.currency))
        return "https://checkout.example.org/pay/abc"

    monkeypatch.setattr(registration_views, "start_payment", fake_start_payment)
    html = html_of(client.get("/events/evening"))
    assert "Paying online is not available yet" not in html
    response = register(client, "evening", {
        "name": "Dana Okafor", "email": "dana@example.org", f"quantity-{evening['supporter']}": "2",
        "attendee-1-name": "Eli Chen", f"question-{evening['track']}": "Tech",
    })
    assert response.status_code == 303
    assert response.headers["Location"] == "https://checkout.example.org/pay/abc"
    assert seen == [("pending_payment", 5000, "EUR")]
    [order] = orders(app)
    assert order["status"] == "pending_payment" and sold(app, evening["supporter"]) == (2, 2)
