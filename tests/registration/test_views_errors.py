"""Every way the registration form says no: the message next to its field (tied with
aria-describedby), an error summary linking to the fields, what she typed kept, and nothing written."""
from __future__ import annotations

from datetime import timedelta

import pytest

from sqlalchemy import select

from eventsite.core.db import utcnow
from eventsite.events.models import EventStatus, QuestionKind
from eventsite.extensions import db
from eventsite.registration import views as registration_views
from eventsite.registration.services import register_attendees
from tests.factories import make_event, make_question, make_ticket_type
from tests.registration.views_helpers import (
    attribute,
    control,
    counts,
    field_error,
    field_names,
    html_of,
    in_app,
    input_value,
    orders,
    register,
    sold,
    summary_links,
    summary_text,
    text_of,
)

NOTHING = {"orders": 0, "tickets": 0, "outbox": 0}


@pytest.fixture
def event(app, organizer):
    """A published event with a free type (capacity 5), a paid type, a hidden type, a required question."""
    def make():
        e = make_event(organizer["organization_id"], slug="circle", title="Mentoring Circle")
        free = make_ticket_type(e, name="Circle seat", capacity=5)
        paid = make_ticket_type(e, name="Supporter", price_cents=2000, capacity=5)
        hidden = make_ticket_type(e, name="Speaker comp", capacity=5, hidden=True)
        q = make_question(e, label="Your role", kind=QuestionKind.SINGLE_CHOICE, options=["Mentor", "Mentee"],
                          required=True)
        return {"free": free.id, "paid": paid.id, "hidden": hidden.id, "q": q.id, "id": e.id}
    return in_app(app, make)


def _valid(event, **overrides) -> dict:
    data = {"name": "Ada Lovelace", "email": "ada@example.org", f"quantity-{event['free']}": "1",
            f"question-{event['q']}": "Mentee"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_a_bad_email_comes_back_next_to_its_field_with_what_she_typed(app, client, event):
    response = register(client, "circle", _valid(event, email="ada@@example", name="Ada <Lovelace>"))
    html = html_of(response)
    assert response.status_code == 422
    message = field_error(html, "email")
    assert message and message.startswith("Enter a valid email address")
    tag = control(html, "email")
    assert attribute(tag, "aria-invalid") == "true" and "email-error" in attribute(tag, "aria-describedby").split()
    assert input_value(html, "email") == "ada@@example"
    assert input_value(html, "name") == "Ada <Lovelace>" and "Ada &lt;Lovelace&gt;" in html  # kept, escaped
    assert summary_links(html)[0][0] == "#email" and summary_links(html)[0][1].startswith("Your email: Enter a valid")
    assert counts(app) == NOTHING
    assert 'aria-invalid="None"' not in html and 'aria-describedby="None"' not in html


def test_an_address_no_mail_server_could_deliver_to_is_refused_clearly(app, client, event, mailbox):
    """Accents before the @ need SMTPUTF8, which most servers lack: refused with the reason, nothing
    written. An internationalized domain is fine: kept in its ASCII form, and the ticket arrives."""
    response = register(client, "circle", _valid(event, email="müller@example.org"))
    assert response.status_code == 422
    message = field_error(html_of(response), "email")
    assert message.startswith("Enter a valid email address") and "before the @-sign" in message
    assert counts(app) == NOTHING

    ok = register(client, "circle", _valid(event, email="Ada@Bücher.de"))
    assert ok.status_code == 303
    with app.app_context():
        from eventsite.core.mail.worker import deliver_due
        from eventsite.registration.models import Order

        assert db.session.scalar(select(Order.buyer_email)) == "ada@xn--bcher-kva.de"
        assert deliver_due() == 1
    assert [m.rcpt_tos for m in mailbox.messages] == [["ada@xn--bcher-kva.de"]]


def test_every_missing_field_is_reported_at_once_in_page_order(app, client, event):
    response = register(client, "circle", {f"quantity-{event['free']}": "0", "name": "  ", "email": ""})
    html = html_of(response)
    assert response.status_code == 422
    assert field_error(html, "quantity") == "Choose at least one ticket."
    assert field_error(html, "name") == "Enter your name."
    assert field_error(html, "email") == "Enter your email address."
    assert field_error(html, f"question-{event['q']}") == "Choose one of the options."
    assert [href for href, _ in summary_links(html)] == [
        f"#quantity-{event['free']}", "#name", "#email", f"#question-{event['q']}-0"]
    assert counts(app) == NOTHING


def test_oversized_and_control_characters_are_refused(app, client, event):
    response = register(client, "circle", _valid(event, name="A" * 201, email="a" * 250 + "@example.org"))
    html = html_of(response)
    assert response.status_code == 422
    assert field_error(html, "name") == "Use at most 200 characters."
    assert "at most 254 characters" in field_error(html, "email")
    injected = register(client, "circle", _valid(event, name="Ada\r\nBcc: victim@example.org"))
    assert injected.status_code == 422
    assert "no line breaks or control characters" in field_error(html_of(injected), "name")
    garbage = register(client, "circle", _valid(event, **{f"quantity-{event['free']}": "lots"}))
    assert garbage.status_code == 422
    assert field_error(html_of(garbage), f"quantity-{event['free']}") == "Choose a number of tickets."
    too_many = register(client, "circle", _valid(event, **{f"quantity-{event['free']}": "50"}))
    assert too_many.status_code == 422 and "at most 10" in field_error(html_of(too_many), f"quantity-{event['free']}")
    assert counts(app) == NOTHING


def test_a_form_without_its_csrf_token_is_refused_with_the_friendly_page(app, client, event):
    client.get("/events/circle")
    response = client.post("/events/circle/register", data=_valid(event))
    assert response.status_code == 400
    assert "This form has expired" in text_of(html_of(response)) and "<h1>" in html_of(response)
    assert counts(app) == NOTHING


def test_closed_and_cancelled_events_refuse_and_drafts_are_not_found(app, client, event, organizer):
    page = client.get("/events/circle")
    from tests.conftest import csrf_from
    token = csrf_from(page.data)

    def close():
        from eventsite.events.models import Event
        e = db.session.get(Event, event["id"])
        e.registration_closes_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    in_app(app, close)
    closed = client.post("/events/circle/register", data={"csrf_token": token, **_valid(event)})
    assert closed.status_code == 409
    assert "Registration is closed." in text_of(html_of(closed))
    assert "registration-form" not in html_of(closed)  # the ticket list instead of the form

    def cancel():
        from eventsite.events.models import Event
        e = db.session.get(Event, event["id"])
        e.registration_closes_at = None
        e.status = EventStatus.CANCELLED
        db.session.commit()
    in_app(app, cancel)
    cancelled = client.post("/events/circle/register", data={"csrf_token": token, **_valid(event)})
    assert cancelled.status_code == 409 and "This event has been cancelled." in text_of(html_of(cancelled))

    in_app(app, lambda: make_event(organizer["organization_id"], slug="draft-evening", status=EventStatus.DRAFT))
    draft = client.post("/events/draft-evening/register", data={"csrf_token": token, **_valid(event)})
    assert draft.status_code == 404 and "Page not found" in text_of(html_of(draft))
    assert counts(app) == NOTHING


def test_hidden_and_foreign_ticket_types_are_refused(app, client, event, organizer):
    hidden = register(client, "circle", _valid(event, **{f"quantity-{event['free']}": "0",
                                                         f"quantity-{event['hidden']}": "1"}))
    assert hidden.status_code == 422
    assert "This ticket type is not available." in summary_text(html_of(hidden))
    assert f"quantity-{event['hidden']}" not in field_names(html_of(hidden))

    def other_type():
        other = make_event(organizer["organization_id"], slug="other-evening")
        return make_ticket_type(other, name="Elsewhere", capacity=5).id
    foreign = in_app(app, other_type)
    response = register(client, "circle", _valid(event, **{f"quantity-{foreign}": "1"}))
    assert response.status_code == 422
    assert "This ticket type is not part of this event." in summary_text(html_of(response))
    assert counts(app) == NOTHING and sold(app, foreign) == (0, 0)


def test_sold_out_between_loading_and_posting(app, client, event):
    buyers = iter(range(100))

    def sell(n):
        from eventsite.events.models import Event
        e = db.session.get(Event, event["id"])
        for _ in range(n):
            i = next(buyers)
            register_attendees(e, buyer_name=f"Early {i}", buyer_email=f"early{i}@example.org",
                               quantities={event["free"]: 1}, answers={event["q"]: "Mentor"})
        db.session.commit()
    in_app(app, sell, 3)  # 2 left
    from tests.conftest import csrf_from
    token = csrf_from(client.get("/events/circle").data)
    in_app(app, sell, 1)  # someone else takes one: 1 left

    data = _valid(event, **{f"quantity-{event['free']}": "2", "attendee-1-name": "Grace Hopper"})
    response = client.post("/events/circle/register", data={"csrf_token": token, **data})
    html = html_of(response)
    assert response.status_code == 409
    assert field_error(html, f"quantity-{event['free']}") == "Only 1 of “Circle seat” is left; choose 1 or fewer."
    assert input_value(html, "attendee-1-name") == "Grace Hopper"
    assert len(orders(app)) == 4 and sold(app, event["free"]) == (4, 4)

    in_app(app, sell, 1)  # the last one goes
    last = client.post("/events/circle/register", data={"csrf_token": token, **_valid(event)})
    html = html_of(last)
    assert last.status_code == 409
    assert "Sorry, “Circle seat” is sold out." in summary_text(html)
    assert len(orders(app)) == 5 and sold(app, event["free"]) == (5, 5)


def test_when_everything_is_sold_out_the_page_says_so_and_offers_no_form(app, client, organizer):
    def make():
        e = make_event(organizer["organization_id"], slug="full-house")
        make_ticket_type(e, name="Seat", capacity=3, sold=3)
    in_app(app, make)
    html = html_of(client.get("/events/full-house"))
    assert "Sold out" in text_of(html)
    assert 'id="registration-form"' not in html and 'name="quantity-' not in html
    assert "Join the waitlist" in text_of(html)  # registration/_waitlist.html, included when sold out


def test_already_registered_offers_to_send_the_ticket_again(app, client, event):
    first = register(client, "circle", _valid(event))
    assert first.status_code == 303
    again = register(client, "circle", _valid(event, email="  ADA@example.org "))
    html = html_of(again)
    assert again.status_code == 409
    assert field_error(html, "email") == "This email address is already registered for this event."
    assert '<button type="submit" form="resend-form"' in html and "Send my ticket again" in html
    assert 'action="/events/circle/resend"' in html
    assert input_value(html, "email") == "  ADA@example.org "  # the hidden copy in the resend form too
    assert len(orders(app)) == 1 and counts(app)["tickets"] == 1


def test_paid_tickets_are_refused_while_online_payment_is_absent(app, client, event, monkeypatch):
    monkeypatch.setattr(registration_views, "start_payment", None)  # no payments domain installed
    html = html_of(client.get("/events/circle"))
    assert "Paying online is not available yet for this ticket." in text_of(html)
    response = register(client, "circle", _valid(event, **{f"quantity-{event['free']}": "1",
                                                           f"quantity-{event['paid']}": "1",
                                                           "attendee-1-name": "Grace Hopper"}))
    html = html_of(response)
    assert response.status_code == 422
    assert field_error(html, f"quantity-{event['paid']}").startswith("Online payment is not available yet")
    described = attribute(control(html, f"quantity-{event['paid']}"), "aria-describedby")
    assert f"quantity-{event['paid']}-error" in described
    assert counts(app) == NOTHING
    assert sold(app, event["paid"]) == (0, 0) and sold(app, event["free"]) == (0, 0)


def test_markup_in_names_and_answers_is_shown_as_text(app, client, organizer):
    def make():
        e = make_event(organizer["organization_id"], slug="safe")
        tt = make_ticket_type(e, name="Seat", capacity=5)
        q = make_question(e, label="Anything else?", kind=QuestionKind.LONG_TEXT)
        return tt.id, q.id
    tt, q = in_app(app, make)
    name = '<img src=x onerror="alert(1)"> "Ada" & co'
    response = register(client, "safe", {"name": name, "email": "ada@example.org", f"quantity-{tt}": "1",
                                         f"question-{q}": "<script>alert(2)</script>"})
    assert response.status_code == 303
    page = html_of(client.get(response.headers["Location"]))
    assert "<img src=x" not in page and "<script>alert(2)" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &#34;Ada&#34; &amp; co" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    [order] = orders(app)
    assert order["buyer_name"] == name


def test_the_page_with_errors_gets_every_domains_event_page_context(app, client, event, monkeypatch):
    from eventsite.events import views as event_views

    seen: list[str] = []
    monkeypatch.setattr(event_views, "event_page_context",
                        [*event_views.event_page_context, lambda e: seen.append(e.slug) or {}])
    client.get("/events/circle")
    response = register(client, "circle", _valid(event, email="nope"))
    assert response.status_code == 422 and field_error(html_of(response), "email")
    # The first event page is rendered, the second is its stored copy (events/page_cache.py: her
    # session holds only her token and Flask-Login's `_fresh`), then the page with the errors.
    assert seen == ["circle", "circle"]
