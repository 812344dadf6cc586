"""POST/GET/PATCH /api/v1/events/<slug>/ticket-types."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from eventsite.events.models import TicketType
from eventsite.extensions import db
from tests.api.conftest import event_body
from tests.factories import make_event, make_ticket_type


def ticket_type(id_: int) -> TicketType | None:
    return db.session.get(TicketType, id_)


def count_ticket_types() -> int:
    return db.session.scalar(select(func.count()).select_from(TicketType))


def new_event(api, **overrides) -> str:
    response = api.post("/api/v1/events", event_body(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["slug"]


def test_create_ticket_type_answers_201_with_id(api, dbq):
    slug = new_event(api, currency="EUR", status="published")

    response = api.post(f"/api/v1/events/{slug}/ticket-types", {
        "name": "Early bird", "price_cents": 2500, "capacity": 40, "description": "Until February",
        "max_per_order": 4, "sales_start": "2027-01-01T00:00:00+01:00", "sales_end": "2027-02-01T00:00:00+01:00",
    })

    assert response.status_code == 201, response.get_json()
    tt = response.get_json()
    assert isinstance(tt["id"], int)
    assert response.headers["Location"] == f"/api/v1/events/{slug}/ticket-types/{tt['id']}"
    assert (tt["name"], tt["price_cents"], tt["currency"], tt["capacity"]) == ("Early bird", 2500, "EUR", 40)
    assert (tt["sold"], tt["remaining"], tt["hidden"], tt["max_per_order"]) == (0, 40, False, 4)
    assert tt["sales_start"] == "2026-12-31T23:00:00Z"
    assert tt["sales_start_local"] == "2027-01-01T00:00:00+01:00"

    row = dbq(ticket_type, tt["id"])
    assert (row.name, row.price_cents, row.currency, row.capacity) == ("Early bird", 2500, "EUR", 40)
    assert row.sales_end == datetime(2027, 1, 31, 23, tzinfo=timezone.utc)
    assert row.description == "Until February"

    second = api.post(f"/api/v1/events/{slug}/ticket-types",
                      {"name": "Free student ticket", "price_cents": 0, "capacity": 10, "currency": "usd"})
    assert second.status_code == 201
    assert second.get_json()["currency"] == "USD"

    listed = api.get(f"/api/v1/events/{slug}/ticket-types").get_json()["ticket_types"]
    assert [t["name"] for t in listed] == ["Early bird", "Free student ticket"]
    assert [t["name"] for t in api.get(f"/api/v1/events/{slug}").get_json()["ticket_types"]] == [
        "Early bird", "Free student ticket"]
    assert api.get(f"/api/v1/events/{slug}/ticket-types/{tt['id']}").get_json()["name"] == "Early bird"


def test_patch_ticket_type(api, dbq):
    slug = new_event(api)
    tt_id = api.post(f"/api/v1/events/{slug}/ticket-types",
                     {"name": "General", "price_cents": 1000, "capacity": 100}).get_json()["id"]

    response = api.patch(f"/api/v1/events/{slug}/ticket-types/{tt_id}",
                         {"capacity": 80, "hidden": True, "price_cents": 1200, "name": "General admission",
                          "sales_end": "2027-03-07T20:00:00+01:00"})

    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["capacity"], response.get_json()["hidden"]) == (80, True)
    row = dbq(ticket_type, tt_id)
    assert (row.name, row.capacity, row.hidden, row.price_cents) == ("General admission", 80, True, 1200)
    assert row.sales_end == datetime(2027, 3, 7, 19, tzinfo=timezone.utc)

    cleared = api.patch(f"/api/v1/events/{slug}/ticket-types/{tt_id}", {"sales_end": None})
    assert cleared.get_json()["sales_end"] is None
    assert dbq(ticket_type, tt_id).sales_end is None


def test_price_is_fixed_once_tickets_are_sold_and_capacity_not_below_sold(api, app, dbq):
    slug = new_event(api)
    tt_id = api.post(f"/api/v1/events/{slug}/ticket-types",
                     {"name": "General", "price_cents": 1000, "capacity": 100}).get_json()["id"]
    with app.app_context():
        db.session.get(TicketType, tt_id).sold = 5
        db.session.commit()

    response = api.patch(f"/api/v1/events/{slug}/ticket-types/{tt_id}", {"price_cents": 500, "capacity": 3})

    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"price_cents", "capacity"}
    row = dbq(ticket_type, tt_id)
    assert (row.price_cents, row.capacity) == (1000, 100)


def test_ticket_type_bad_fields_are_each_named(api, dbq):
    slug = new_event(api)

    response = api.post(f"/api/v1/events/{slug}/ticket-types", {
        "name": "", "price_cents": -100, "capacity": "ten", "currency": "EURO", "max_per_order": 0,
        "sales_start": "2027-02-01T00:00:00Z", "sales_end": "2027-01-01T00:00:00Z", "hidden": "yes",
        "colour": "red", "sold": 3,
    })

    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert fields == {
        "name": "This field is required.",
        "price_cents": "Must be between 0 and 100,000,000.",
        "capacity": "Must be an integer.",
        "currency": "Use a three-letter currency code, e.g. USD or EUR.",
        "max_per_order": "Must be between 1 and 100.",
        "sales_end": "Sales must end after they start.",
        "hidden": "Must be true or false.",
        "colour": "Unknown field.",
        "sold": "This field is read-only.",
    }
    assert dbq(count_ticket_types) == 0


def test_price_as_a_string_or_float_is_a_type_error(api, dbq):
    slug = new_event(api)
    for price in ("1500", 15.5, True, None):
        response = api.post(f"/api/v1/events/{slug}/ticket-types", {"name": "GA", "price_cents": price, "capacity": 5})
        assert response.status_code == 422, price
        assert list(response.get_json()["error"]["fields"]) == ["price_cents"], price
    assert dbq(count_ticket_types) == 0


def test_ticket_type_of_another_event_is_not_found(api, app, dbq, owner):
    mine = new_event(api)
    with app.app_context():
        other_event = make_event(owner["organization_id"], slug="other-evening")
        foreign_id = make_ticket_type(other_event, name="Other GA").id

    assert api.get(f"/api/v1/events/{mine}/ticket-types/{foreign_id}").status_code == 404
    response = api.patch(f"/api/v1/events/{mine}/ticket-types/{foreign_id}", {"name": "Hijacked"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert dbq(ticket_type, foreign_id).name == "Other GA"
    assert api.get(f"/api/v1/events/{mine}/ticket-types/99999999999999999999").status_code == 404
