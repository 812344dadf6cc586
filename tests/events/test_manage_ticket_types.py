"""Ticket types in the organizer editor: prices in Decimal to cents, capacity, sale window, order."""
from __future__ import annotations

from sqlalchemy import select, update

from eventsite.events.models import EventStatus, TicketType
from eventsite.extensions import db
from tests.conftest import post_form
from tests.events.manage_helpers import aware, editor, field_error, input_value, text_of  # noqa: F401
from tests.factories import make_event, make_ticket_type

URL = "/organizer/events/gala/tickets"


def _form(**overrides) -> dict:
    data = {"name": "Early bird", "description": "Until the end of May", "price": "25.50", "currency": "EUR",
            "capacity": "50", "max_per_order": "4", "sales_start": "", "sales_end": ""}
    data.update(overrides)
    return data


def _types() -> list[TicketType]:
    return list(db.session.scalars(select(TicketType).order_by(TicketType.position, TicketType.id)))


def _setup(app, organizer, **kw):
    with app.app_context():
        event = make_event(organizer["organization_id"], slug="gala", title="Gala", currency="EUR",
                           timezone="Europe/Berlin", status=EventStatus.DRAFT, **kw)
        return event.id


def test_add_ticket_type_converts_price_to_cents_without_floats(app, editor, organizer):
    _setup(app, organizer)
    response = post_form(editor, URL + "/new", _form(price="25.50"))
    assert response.status_code == 302 and response.headers["Location"].endswith(URL)
    post_form(editor, URL + "/new", _form(name="Supporter", price="0.10"))  # 0.1 * 100 is not 10.0 in floats
    post_form(editor, URL + "/new", _form(name="Community", price="0", currency="eur"))  # upper-cased
    post_form(editor, URL + "/new", _form(name="Table of 8", price="1200,00"))
    with app.app_context():
        tts = _types()
        assert [(t.name, t.price_cents, t.currency) for t in tts] == [
            ("Early bird", 2550, "EUR"), ("Supporter", 10, "EUR"), ("Community", 0, "EUR"), ("Table of 8", 120000, "EUR"),
        ]
        assert tts[0].capacity == 50 and tts[0].max_per_order == 4 and tts[0].description == "Until the end of May"
    page = text_of(editor.get(URL).data)
    assert "€25.50" in page and "Free" in page and "0 / 50 sold" in page


def test_zero_decimal_currency_takes_whole_amounts(app, editor, organizer):
    _setup(app, organizer)
    assert post_form(editor, URL + "/new", _form(price="1500", currency="JPY")).status_code == 302
    response = post_form(editor, URL + "/new", _form(price="1500.50", currency="JPY"))
    assert response.status_code == 422 and "no cents" in field_error(response.data, "price")
    with app.app_context():
        assert [(t.price_cents, t.currency) for t in _types()] == [(1500, "JPY")]


def test_bad_prices_are_refused_next_to_the_field_with_values_kept(app, editor, organizer):
    _setup(app, organizer)
    for bad in ("abc", "-1", "1,000", "25.505", "NaN", "1e3"):
        response = post_form(editor, URL + "/new", _form(price=bad, name="Keep my name"))
        assert response.status_code == 422, bad
        assert field_error(response.data, "price") == "Enter an amount like 25.00, or 0 for a free ticket.", bad
        assert input_value(response.data, "price") == bad
        assert input_value(response.data, "name") == "Keep my name"
    response = post_form(editor, URL + "/new", _form(capacity="-3"))
    assert field_error(response.data, "capacity") == "Enter a number from 0 to 1,000,000."
    with app.app_context():
        assert _types() == []


def test_sale_window_is_entered_in_the_event_zone(app, editor, organizer):
    _setup(app, organizer)
    response = post_form(editor, URL + "/new", _form(sales_start="2031-01-10T09:00", sales_end="2031-07-01T18:00"))
    assert response.status_code == 302
    with app.app_context():
        tt = _types()[0]
        assert tt.sales_start == aware(2031, 1, 10, 8, 0)  # CET
        assert tt.sales_end == aware(2031, 7, 1, 16, 0)  # CEST
        tt_id = tt.id
    page = editor.get(f"{URL}/{tt_id}/edit")
    assert input_value(page.data, "sales_start") == "2031-01-10T09:00"
    assert input_value(page.data, "price") == "25.50"

    response = post_form(editor, URL + "/new", _form(sales_start="2031-07-01T18:00", sales_end="2031-01-10T09:00"))
    assert field_error(response.data, "sales_end") == "Sales must end after they start."


def test_capacity_cannot_go_below_sold_and_sold_price_is_frozen(app, editor, organizer):
    _setup(app, organizer)
    post_form(editor, URL + "/new", _form(capacity="50"))
    with app.app_context():
        tt_id = _types()[0].id
        db.session.execute(update(TicketType).where(TicketType.id == tt_id).values(sold=12))
        db.session.commit()
    edit = f"{URL}/{tt_id}/edit"
    assert "12 sold" in text_of(editor.get(edit).data)

    response = post_form(editor, edit, _form(capacity="10"))
    assert response.status_code == 422
    assert field_error(response.data, "capacity") == "12 are already sold; capacity cannot be lower."
    response = post_form(editor, edit, _form(price="30.00"))
    assert "create a new ticket type for a new price" in field_error(response.data, "price")

    response = post_form(editor, edit, _form(capacity="12", name="Early bird (last few)"))
    assert response.status_code == 302
    with app.app_context():
        tt = db.session.get(TicketType, tt_id)
        assert (tt.capacity, tt.name, tt.price_cents) == (12, "Early bird (last few)", 2550)


def test_hide_show_reorder_and_delete(app, editor, organizer):
    _setup(app, organizer)
    for name in ("First", "Second", "Third"):
        post_form(editor, URL + "/new", _form(name=name))
    with app.app_context():
        first, second, third = (t.id for t in _types())

    post_form(editor, f"{URL}/{second}/visibility", {"hidden": "1"}, form_url=URL)
    with app.app_context():
        assert db.session.get(TicketType, second).hidden is True
    assert "Hidden" in text_of(editor.get(URL).data)
    post_form(editor, f"{URL}/{second}/visibility", {"hidden": "0"}, form_url=URL)
    with app.app_context():
        assert db.session.get(TicketType, second).hidden is False

    post_form(editor, f"{URL}/{third}/move", {"direction": "up"}, form_url=URL)
    with app.app_context():
        assert [t.name for t in _types()] == ["First", "Third", "Second"]
    post_form(editor, f"{URL}/{first}/move", {"direction": "down"}, form_url=URL)
    post_form(editor, f"{URL}/{first}/move", {"direction": "down"}, form_url=URL)
    post_form(editor, f"{URL}/{first}/move", {"direction": "down"}, form_url=URL)  # already last: stays
    with app.app_context():
        assert [t.name for t in _types()] == ["Third", "Second", "First"]
    assert post_form(editor, f"{URL}/{first}/move", {"direction": "sideways"}, form_url=URL).status_code == 400

    post_form(editor, f"{URL}/{second}/delete", {}, form_url=URL)
    with app.app_context():
        assert [t.name for t in _types()] == ["Third", "First"]
        db.session.execute(update(TicketType).where(TicketType.id == first).values(sold=1))
        db.session.commit()
    response = post_form(editor, f"{URL}/{first}/delete", {}, form_url=URL)
    assert "hide it instead of deleting it" in text_of(editor.get(response.headers["Location"]).data)
    with app.app_context():
        assert [t.name for t in _types()] == ["Third", "First"]


def test_a_ticket_type_of_another_event_is_not_found(app, editor, organizer):
    _setup(app, organizer)
    with app.app_context():
        other = make_event(organizer["organization_id"], slug="other")
        foreign = make_ticket_type(other).id
    assert editor.get(f"{URL}/{foreign}/edit").status_code == 404
    response = post_form(editor, f"{URL}/{foreign}/delete", {}, form_url=URL)
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(TicketType, foreign) is not None
