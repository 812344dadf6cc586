"""POST /api/v1/events/<slug>/checkins: the same answers as the screen, for other scanning apps."""
from __future__ import annotations

import pytest

from eventsite.accounts.models import Role
from eventsite.extensions import db
from tests.api.conftest import ApiClient, issue_token
from tests.api.test_openapi import assert_valid
from tests.checkin.conftest import register, scan_count, scans, ticket, user
from tests.factories import make_event, make_member, make_organizer, make_ticket_type


@pytest.fixture
def owner_api(app, door, organizer) -> ApiClient:
    with app.app_context():
        token = issue_token(user(organizer["email"]))
        db.session.remove()
    return ApiClient(app.test_client(), token)


@pytest.fixture
def spec(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def url(door) -> str:
    return f"/api/v1/events/{door.slug}/checkins"


def test_every_result_through_the_api(owner_api, door, tickets, app, spec):
    [ok] = tickets(name="Api Ada", answers={str(door.diet_question_id): "Vegetarian"})
    [unpaid] = tickets(paid=True)
    [cancelled] = tickets()
    with app.app_context():
        from eventsite.registration.cancellation import cancel_order

        cancel_order(ticket(cancelled).order)
        other = make_event(door.organization_id, title="Other evening")
        elsewhere = register(other.id, make_ticket_type(other).id).tickets[0].secret
        db.session.commit()
        db.session.remove()

    first = owner_api.post(url(door), {"secret": ok, "door": "API gate"})
    assert first.status_code == 201
    body = first.get_json()
    assert body["result"] == "ok" and body["admit"] is True and body["ticket"]["attendee_name"] == "Api Ada"
    assert body["ticket"]["door_answers"] == [{"question": "Dietary requirements", "answer": "Vegetarian"}]
    assert body["checked_in_by"] == "Olivia Owner" and body["checked_in_door"] == "API gate"
    assert_valid(spec, "CheckinResult", body)

    expected = {ok: "already_checked_in", unpaid: "unpaid", cancelled: "cancelled", elsewhere: "wrong_event",
                "UNKNOWNUNKNOWN": "unknown", "": "unknown", "x" * 10_240: "unknown", "\u0000": "unknown",
                "🎟️": "unknown"}
    for secret, result in expected.items():
        response = owner_api.post(url(door), {"secret": secret})
        assert response.status_code == 201, (secret[:20], response.get_data(as_text=True))
        assert response.get_json()["result"] == result, secret[:20]
        assert_valid(spec, "CheckinResult", response.get_json())
    with app.app_context():
        assert [s.method for s in scans()] == ["api"] * 10
        assert ticket(ok).checked_in_at is not None
        db.session.remove()


def test_a_replayed_request_id_answers_200_with_the_original(owner_api, door, tickets, app):
    [secret] = tickets()
    body = {"secret": secret, "request_id": "3f1c8a2e-5b7d-4e61-9a0f-2c4b6d8e0a13"}
    first = owner_api.post(url(door), body)
    again = owner_api.post(url(door), body)
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["result"] == "ok" and again.get_json()["replayed"] is True
    assert again.get_json()["scan_id"] == first.get_json()["scan_id"]
    with app.app_context():
        assert scan_count() == 1
        db.session.remove()


def test_invalid_utf8_inside_the_secret_is_unknown(owner_api, door, tickets):
    tickets()
    response = owner_api.client.post(url(door), data=b'{"secret": "\xff\xfeABCDEFGH"}', content_type="application/json",
                                     headers={"Authorization": f"Bearer {owner_api.token}"})
    assert response.status_code == 201 and response.get_json()["result"] == "unknown"


def test_bad_requests_get_clear_4xx_and_record_nothing(owner_api, door, tickets, app, spec):
    [secret] = tickets()
    cases = [
        (owner_api.post(url(door), {}), 422, "secret"),
        (owner_api.post(url(door), {"secret": 12345}), 422, "secret"),
        (owner_api.post(url(door), {"secret": secret, "colour": "red"}), 422, "colour"),
        (owner_api.post(url(door), {"secret": secret, "door": "x" * 41}), 422, "door"),
        (owner_api.post(url(door), {"secret": secret, "request_id": "bad id"}), 422, "request_id"),
        (owner_api.post(url(door), [secret]), 422, None),
        (owner_api.post(url(door), data="{", content_type="application/json"), 400, None),
        (owner_api.post(url(door), data=f"secret={secret}", content_type="application/x-www-form-urlencoded"), 415, None),
        (owner_api.client.post(url(door), json={"secret": secret}), 401, None),
        (owner_api.post("/api/v1/events/no-such-event/checkins", {"secret": secret}), 404, None),
        (owner_api.post("/api/v1/events/" + "a" * 200 + "/checkins", {"secret": secret}), 404, None),
    ]
    for response, status, field in cases:
        assert response.status_code == status, response.get_data(as_text=True)
        error = response.get_json()["error"]
        assert error["message"]
        if field:
            assert field in error["fields"]
        assert_valid(spec, "Error", response.get_json())
    with app.app_context():
        assert scan_count() == 0 and ticket(secret).checked_in_at is None
        db.session.remove()


def test_door_staff_may_scan_their_event_only(app, door, tickets):
    [secret] = tickets()
    with app.app_context():
        other = make_event(door.organization_id, slug="other-door-night")
        elsewhere_staff = make_member(door.organization_id, Role.CHECKIN, "other-door@example.org", events=[other])
        stranger = make_organizer("stranger@example.org")
        tokens = {"assigned": issue_token(user(door.staff_email)), "other_event": issue_token(elsewhere_staff),
                  "other_org": issue_token(stranger)}
        db.session.remove()

    for who in ("other_event", "other_org"):
        response = ApiClient(app.test_client(), tokens[who]).post(url(door), {"secret": secret})
        assert response.status_code == 404, who
    assert ticket_checked(app, secret) is False
    ok = ApiClient(app.test_client(), tokens["assigned"]).post(url(door), {"secret": secret})
    assert ok.status_code == 201 and ok.get_json()["checked_in_by"] == "Dora Door"


def ticket_checked(app, secret) -> bool:
    with app.app_context():
        try:
            return ticket(secret).checked_in_at is not None
        finally:
            db.session.remove()


def test_the_operation_is_documented(spec):
    op = spec["paths"]["/api/v1/events/{slug}/checkins"]["post"]
    assert {"200", "201", "400", "401", "403", "404", "415", "422"} <= set(op["responses"])
    result = spec["components"]["schemas"]["CheckinResult"]["properties"]["result"]
    assert result["enum"] == ["ok", "already_checked_in", "cancelled", "unpaid", "wrong_event", "unknown"]
    assert spec["components"]["schemas"]["CheckinCreate"]["required"] == ["secret"]
