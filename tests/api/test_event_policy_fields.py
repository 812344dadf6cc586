"""The organizer API takes and gives an event's terms link, seat hold and refund policy, as the editor
does: checked by the same rules, documented in the OpenAPI description, and used by the site."""
from __future__ import annotations

from sqlalchemy import select

from eventsite.events.models import Event
from eventsite.extensions import db
from tests.api.conftest import event_body
from tests.api.test_openapi import assert_valid


def _row(slug: str) -> tuple:
    event = db.session.scalar(select(Event).where(Event.slug == slug))
    return event.terms_url, event.hold_minutes, event.refund_until_days_before


def test_create_and_read_terms_hold_and_refund_policy(api, client, dbq):
    response = api.post("/api/v1/events", event_body(status="published", terms_url="https://example.org/terms",
                                                     hold_minutes=45, refund_until_days_before=7))
    assert response.status_code == 201
    event = response.get_json()
    assert (event["terms_url"], event["hold_minutes"], event["refund_until_days_before"]) == (
        "https://example.org/terms", 45, 7)
    assert dbq(_row, event["slug"]) == ("https://example.org/terms", 45, 7)
    assert api.get(f"/api/v1/events/{event['slug']}").get_json()["refund_until_days_before"] == 7

    # The public page asks for consent to those terms.
    api.post(f"/api/v1/events/{event['slug']}/ticket-types", {"name": "GA", "price_cents": 0, "capacity": 10})
    page = client.get(f"/events/{event['slug']}").get_data(as_text=True)
    assert 'name="consent"' in page and 'href="https://example.org/terms"' in page


def test_an_event_without_them_answers_empty_and_null(api, dbq):
    event = api.post("/api/v1/events", event_body()).get_json()
    assert (event["terms_url"], event["hold_minutes"], event["refund_until_days_before"]) == ("", None, None)


def test_patch_changes_and_clears_them(api, dbq):
    slug = api.post("/api/v1/events", event_body(refund_until_days_before=3)).get_json()["slug"]
    changed = api.patch(f"/api/v1/events/{slug}", {"hold_minutes": 20, "refund_until_days_before": 0,
                                                   "terms_url": "https://example.org/t"})
    assert changed.status_code == 200
    assert dbq(_row, slug) == ("https://example.org/t", 20, 0)
    cleared = api.patch(f"/api/v1/events/{slug}", {"hold_minutes": None, "refund_until_days_before": None,
                                                   "terms_url": None})
    assert cleared.status_code == 200
    assert (cleared.get_json()["terms_url"], cleared.get_json()["hold_minutes"]) == ("", None)
    assert dbq(_row, slug) == ("", None, None)


def test_bad_values_are_named_field_by_field_and_change_nothing(api, dbq):
    slug = api.post("/api/v1/events", event_body(hold_minutes=30)).get_json()["slug"]
    response = api.patch(f"/api/v1/events/{slug}", {"hold_minutes": 2, "refund_until_days_before": "7",
                                                    "terms_url": "javascript:alert(1)"})
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == {"hold_minutes", "refund_until_days_before", "terms_url"}
    assert fields["refund_until_days_before"] == "Must be an integer."
    assert "between 5 and 1,440" in fields["hold_minutes"]
    assert "https://" in fields["terms_url"]
    assert dbq(_row, slug) == ("", 30, None)

    response = api.post("/api/v1/events", event_body(refund_until_days_before=400, hold_minutes=True))
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"refund_until_days_before", "hold_minutes"}


def test_the_openapi_description_documents_them(api, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for name in ("EventCreate", "EventUpdate"):
        props = schemas[name]["properties"]
        assert props["hold_minutes"]["type"] == ["integer", "null"] and props["hold_minutes"]["minimum"] == 5
        assert props["refund_until_days_before"]["maximum"] == 365
        assert props["terms_url"]["maxLength"] == 500
    assert {"terms_url", "hold_minutes", "refund_until_days_before"} <= set(schemas["Event"]["required"])
    assert_valid(spec, "EventCreate", event_body(terms_url="https://example.org/terms", hold_minutes=45,
                                                 refund_until_days_before=7))
    assert_valid(spec, "EventUpdate", {"terms_url": None, "hold_minutes": None, "refund_until_days_before": None})
    created = api.post("/api/v1/events", event_body(terms_url="https://example.org/terms", hold_minutes=45,
                                                    refund_until_days_before=7))
    assert_valid(spec, "Event", created.get_json())
    assert_valid(spec, "Event", api.post("/api/v1/events", event_body(title="Plain")).get_json())
