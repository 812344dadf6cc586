"""GET /api/v1/events/<slug>/tickets and /orders: what PRODUCT.md promises, paginated, documented."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from openapi_schema_validator import OAS31Validator

from eventsite.accounts.models import Role
from eventsite.events.models import Event
from eventsite.extensions import db
from tests.api.conftest import ApiClient, issue_token
from tests.factories import make_member, make_organizer
from tests.registration.manage_support import (
    bulk_tickets,
    check_in,
    in_app,
    make_setup,
    register,
)


@pytest.fixture
def reg(app, organizer):
    """The event of manage_support.make_setup: published, Europe/Berlin, two free types, three questions."""
    return in_app(app, make_setup, organizer["organization_id"])


@pytest.fixture
def api(app, organizer) -> ApiClient:
    def token():
        from eventsite.accounts.models import User

        return issue_token(db.session.get(User, organizer["id"]))
    return ApiClient(app.test_client(), in_app(app, token))


def _assert_valid(spec: dict, name: str, instance) -> None:
    validator = OAS31Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]},
                               format_checker=OAS31Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, errors


def test_tickets_as_product_md_promises(app, api, reg):
    ada = register(app, reg.event_id, name="Ada Lovelace", email="ada@example.org", quantities={reg.general_id: 2},
                   attendees=[{"name": "Bea Bauer"}])
    cleo = register(app, reg.event_id, name="Cleo", email="cleo@example.org", quantities={reg.vip_id: 1},
                    source="complimentary")
    check_in(app, ada["tickets"][0]["id"], datetime(2026, 3, 8, 17, 31, tzinfo=timezone.utc))

    response = api.get(f"/api/v1/events/{reg.slug}/tickets")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["total"] == 3 and body["page"] == 1 and body["per_page"] == 100 and body["next"] is None
    assert "Link" not in response.headers
    first, second, third = body["tickets"]
    assert first == {
        "id": ada["tickets"][0]["id"], "secret": ada["tickets"][0]["secret"], "status": "valid",
        "order_status": "confirmed", "attendee_name": "Ada Lovelace", "attendee_email": "ada@example.org",
        "checked_in_at": "2026-03-08T17:31:00Z", "checked_in_at_local": "2026-03-08T18:31:00+01:00",
        "ticket_type_id": reg.general_id, "ticket_type": "General admission", "order_code": ada["code"],
        "price_cents": 0, "currency": "EUR", "created_at": first["created_at"],
        "created_at_local": first["created_at_local"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", first["created_at"])
    assert (second["attendee_name"], second["attendee_email"], second["checked_in_at"]) == ("Bea Bauer", None, None)
    assert (third["attendee_name"], third["order_code"], third["ticket_type_id"]) == ("Cleo", cleo["code"], reg.vip_id)

    spec = api.client.get("/api/v1/openapi.json").get_json()
    _assert_valid(spec, "TicketList", body)


def test_tickets_are_paginated_with_a_next_link(app, api, reg):
    bulk_tickets(app, reg.event_id, reg.general_id, 5)
    seen = []
    url = f"/api/v1/events/{reg.slug}/tickets?per_page=2"
    pages = 0
    while url:
        response = api.get(url)
        assert response.status_code == 200
        body = response.get_json()
        pages += 1
        assert body["total"] == 5 and body["per_page"] == 2 and body["page"] == pages
        seen += [t["attendee_name"] for t in body["tickets"]]
        if body["next"]:
            assert body["next"].startswith("http://localhost/api/v1/events/leaders-dinner/tickets?")
            assert response.headers["Link"] == f'<{body["next"]}>; rel="next"'
        url = body["next"]
    assert pages == 3
    assert seen == [f"Attendee {i:04d}" for i in range(5)]  # oldest first, each once
    assert api.get(f"/api/v1/events/{reg.slug}/tickets?page=9").get_json()["tickets"] == []


def test_orders_with_buyer_status_total_and_ticket_counts(app, organizer, api):
    paid = in_app(app, make_setup, organizer["organization_id"], slug="paid-dinner", vip_price=2500)
    ada = register(app, paid.event_id, name="Ada Lovelace", email="ada@example.org",
                   quantities={paid.general_id: 2}, attendees=[{"name": "Bea"}])
    pat = register(app, paid.event_id, name="Pat Payer", email="pat@example.org", quantities={paid.vip_id: 2},
                   attendees=[{"name": "Quinn"}])

    def cancel_bea():
        from eventsite.registration.cancellation import cancel_ticket
        from eventsite.registration.models import Ticket

        cancel_ticket(db.session.get(Ticket, ada["tickets"][1]["id"]))
        db.session.commit()

    in_app(app, cancel_bea)
    response = api.get(f"/api/v1/events/{paid.slug}/orders")
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 2 and body["next"] is None
    first, second = body["orders"]
    assert {k: first[k] for k in ("id", "code", "buyer_name", "buyer_email", "status", "source", "total_cents",
                                  "currency", "tickets_count", "valid_tickets_count")} == {
        "id": ada["id"], "code": ada["code"], "buyer_name": "Ada Lovelace", "buyer_email": "ada@example.org",
        "status": "confirmed", "source": "public", "total_cents": 0, "currency": "EUR", "tickets_count": 2,
        "valid_tickets_count": 1}
    assert first["created_at"].endswith("Z") and first["confirmed_at"].endswith("Z") and first["cancelled_at"] is None
    assert (second["code"], second["status"], second["total_cents"], second["tickets_count"]) == (
        pat["code"], "pending_payment", 5000, 2)
    assert second["confirmed_at"] is None

    spec = api.client.get("/api/v1/openapi.json").get_json()
    _assert_valid(spec, "OrderList", body)
    page = api.get(f"/api/v1/events/{paid.slug}/orders?per_page=1").get_json()
    assert [o["code"] for o in page["orders"]] == [ada["code"]] and page["next"].endswith("page=2&per_page=1")


@pytest.mark.parametrize("path", ["tickets", "orders"])
def test_errors_in_the_apis_json_shape(app, api, reg, path):
    url = f"/api/v1/events/{reg.slug}/{path}"
    no_token = api.client.get(url)
    assert no_token.status_code == 401 and no_token.get_json()["error"]["code"] == "unauthorized"
    bad_token = api.client.get(url, headers={"Authorization": "Bearer evs_nope"})
    assert bad_token.status_code == 401

    assert api.get(f"/api/v1/events/no-such-event/{path}").status_code == 404
    for query, field in (("page=0", "page"), ("page=abc", "page"), ("per_page=501", "per_page"), ("per_page=-1", "per_page")):
        response = api.get(f"{url}?{query}")
        assert response.status_code == 422, query
        error = response.get_json()["error"]
        assert error["code"] == "invalid" and field in error["fields"], query


@pytest.mark.parametrize("path", ["tickets", "orders"])
def test_other_organizations_get_404_and_door_staff_403(app, organizer, reg, path):
    register(app, reg.event_id, name="Ada", email="ada@example.org", quantities={reg.general_id: 1})

    def tokens():
        rival = make_organizer("rival@example.org")
        door = make_member(organizer["organization_id"], Role.CHECKIN, "door@example.org",
                           events=[db.session.get(Event, reg.event_id)])
        return issue_token(rival), issue_token(door)

    rival_token, door_token = in_app(app, tokens)
    client = app.test_client()
    url = f"/api/v1/events/{reg.slug}/{path}"
    rival = client.get(url, headers={"Authorization": f"Bearer {rival_token}"})
    assert rival.status_code == 404 and "Ada" not in rival.get_data(as_text=True)
    door = client.get(url, headers={"Authorization": f"Bearer {door_token}"})
    assert door.status_code == 403 and door.get_json()["error"]["code"] == "forbidden"


def test_both_lists_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, op_id, ref in (("/api/v1/events/{slug}/tickets", "listTickets", "TicketList"),
                             ("/api/v1/events/{slug}/orders", "listOrders", "OrderList")):
        op = spec["paths"][path]["get"]
        assert op["operationId"] == op_id
        assert {p["name"] for p in op["parameters"]} == {"slug", "page", "per_page"}
        assert op["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{ref}"}
        assert {"401", "403", "404", "422"} <= set(op["responses"])
        assert "next" in spec["components"]["schemas"][ref]["required"]
    ticket = spec["components"]["schemas"]["Ticket"]
    assert {"id", "secret", "status", "attendee_name", "attendee_email", "checked_in_at"} <= set(ticket["required"])
