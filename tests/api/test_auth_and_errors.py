"""Who may call the API, and the JSON answer to every kind of bad request (never a 500, never HTML)."""
from __future__ import annotations

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eventsite.accounts.models import ApiToken, Role, User
from eventsite.accounts.services import revoke_api_token
from eventsite.events.models import Event, EventStatus
from eventsite.extensions import db
from tests.api.conftest import ApiClient, event_body, issue_token
from tests.factories import make_event, make_member, make_organizer


def count_events() -> int:
    return db.session.scalar(select(func.count()).select_from(Event))


def event_title(slug: str) -> str:
    return db.session.scalar(select(Event.title).where(Event.slug == slug))


def assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


# --- 401 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", [
    None,                                # missing
    "",                                  # empty
    "Bearer",                            # no token
    "Bearer ",                           # blank token
    "Token {token}",                     # wrong scheme
    "Basic YWRhOnNlY3JldA==",            # wrong scheme
    "Bearer {token} extra",              # malformed
    "Bearer evs_not-a-real-token-at-all",  # unknown
    "Bearer " + "x" * 500,               # absurdly long
])
def test_missing_malformed_or_unknown_token_is_401(client, dbq, owner, header):
    headers = {} if header is None else {"Authorization": header.format(token=owner["token"])}

    for response in (client.get("/api/v1/events", headers=headers),
                     client.post("/api/v1/events", json=event_body(), headers=headers)):
        assert_json_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert dbq(count_events) == 0


def test_the_scheme_is_case_insensitive(client, owner):
    response = client.get("/api/v1/events", headers={"Authorization": f"bearer {owner['token']}"})
    assert response.status_code == 200
    assert response.get_json() == {"events": []}


def test_revoked_token_is_401(app, api, dbq, owner):
    assert api.get("/api/v1/events").status_code == 200
    with app.app_context():
        user = db.session.get(User, owner["id"])
        revoke_api_token(db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id)), actor=user)
        db.session.commit()

    assert_json_error(api.get("/api/v1/events"), 401, "unauthorized")
    assert_json_error(api.post("/api/v1/events", event_body()), 401, "unauthorized")
    assert dbq(count_events) == 0


def test_token_of_a_deactivated_user_is_401(app, api, owner):
    with app.app_context():
        db.session.get(User, owner["id"]).active = False
        db.session.commit()

    assert_json_error(api.get("/api/v1/events"), 401, "unauthorized")


def test_a_token_carries_every_membership_of_its_user(app, client, owner):
    """The token's user comes with her memberships in one statement (joined): each organization's
    role still decides, event by event."""
    from eventsite.accounts.services import add_member
    from eventsite.events.models import CheckinAssignment

    with app.app_context():
        own = make_event(owner["organization_id"], slug="own-gala", title="Own Gala")
        other = make_organizer("second-org@example.org")
        door = make_event(other.memberships[0].organization_id, slug="their-door", title="Their Door")
        make_event(other.memberships[0].organization_id, slug="their-other")
        ada = db.session.get(User, owner["id"])
        membership = add_member(other.memberships[0].organization, ada, Role.CHECKIN)
        db.session.add(CheckinAssignment(membership_id=membership.id, event_id=door.id))
        db.session.commit()
        assert own.id and door.id
    api = ApiClient(client, owner["token"])

    assert api.get("/api/v1/events/own-gala").get_json()["title"] == "Own Gala"
    assert_json_error(api.get("/api/v1/events/their-door"), 403, "forbidden")
    assert_json_error(api.get("/api/v1/events/their-other"), 404, "not_found")
    scan = api.post("/api/v1/events/their-door/checkins", {"secret": "NOPE"})
    assert scan.status_code == 201 and scan.get_json()["result"] == "unknown"


# --- 404 and 403 -------------------------------------------------------------------------------

def test_another_organizations_event_is_404(api, app, dbq):
    with app.app_context():
        other = make_organizer("rival@example.org")
        make_event(other.memberships[0].organization_id, title="Rival Gala", slug="rival-gala")

    assert_json_error(api.get("/api/v1/events/rival-gala"), 404, "not_found")
    assert_json_error(api.patch("/api/v1/events/rival-gala", {"title": "Mine now"}), 404, "not_found")
    assert_json_error(api.get("/api/v1/events/rival-gala/ticket-types"), 404, "not_found")
    assert_json_error(api.post("/api/v1/events/rival-gala/ticket-types",
                               {"name": "GA", "price_cents": 0, "capacity": 1}), 404, "not_found")
    assert_json_error(api.patch("/api/v1/events/rival-gala", data="{broken", content_type="application/json"),
                      404, "not_found")  # nothing about the body is revealed either
    assert dbq(event_title, "rival-gala") == "Rival Gala"
    assert [e["slug"] for e in api.get("/api/v1/events").get_json()["events"]] == []


def test_checkin_staff_get_403_on_their_event_and_404_on_others(app, client, dbq, owner):
    with app.app_context():
        door = make_event(owner["organization_id"], slug="door-night", title="Door Night")
        make_event(owner["organization_id"], slug="not-assigned")
        staff = make_member(owner["organization_id"], Role.CHECKIN, events=[door])
        api = ApiClient(client, issue_token(staff))

    assert_json_error(api.get("/api/v1/events/door-night"), 403, "forbidden")
    assert_json_error(api.patch("/api/v1/events/door-night", {"title": "Changed"}), 403, "forbidden")
    assert_json_error(api.post("/api/v1/events/door-night/ticket-types",
                               {"name": "GA", "price_cents": 0, "capacity": 1}), 403, "forbidden")
    assert_json_error(api.get("/api/v1/events/not-assigned"), 404, "not_found")
    assert dbq(event_title, "door-night") == "Door Night"
    assert api.get("/api/v1/events").get_json() == {"events": []}


def test_unknown_route_and_wrong_method_are_json(api):
    assert_json_error(api.get("/api/v1/no-such-thing"), 404, "not_found")
    response = api.client.delete("/api/v1/events", headers={"Authorization": f"Bearer {api.token}"})
    assert_json_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_odd_slugs_are_404_not_500(api):
    assert_json_error(api.get("/api/v1/events/a%00b"), 404, "not_found")
    assert_json_error(api.get("/api/v1/events/" + "a" * 300), 404, "not_found")
    assert_json_error(api.get("/api/v1/events/%E2%98%83"), 404, "not_found")


# --- 400, 415, 422 -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    b'{"title": "Breakfast", ',          # truncated
    b"{'title': 'single quotes'}",
    b"",                                 # empty
    b'{"capacity": NaN}',                # not JSON
    b'{"title": "\xff\xfe"}',            # not UTF-8
    b'{"title": "\\ud800"}',             # a lone surrogate is not text
    b"[" * 100_000,                      # absurdly deep
])
def test_broken_json_is_400(api, dbq, raw):
    error = assert_json_error(api.post("/api/v1/events", data=raw, content_type="application/json"),
                              400, "bad_json")
    assert "JSON" in error["message"]
    assert dbq(count_events) == 0


def test_broken_json_on_patch_is_400(api, dbq):
    slug = api.post("/api/v1/events", event_body()).get_json()["slug"]
    assert_json_error(api.patch(f"/api/v1/events/{slug}", data=b'{"title": ', content_type="application/json"),
                      400, "bad_json")


def test_a_body_not_sent_as_json_is_415(api, dbq):
    form = api.client.post("/api/v1/events", data={"title": "Breakfast"},
                           headers={"Authorization": f"Bearer {api.token}"})
    assert_json_error(form, 415, "unsupported_media_type")
    text = api.post("/api/v1/events", data='{"title": "x"}', content_type="text/plain")
    assert_json_error(text, 415, "unsupported_media_type")
    assert dbq(count_events) == 0


def test_merge_patch_content_type_is_accepted(api, dbq):
    slug = api.post("/api/v1/events", event_body()).get_json()["slug"]
    response = api.patch(f"/api/v1/events/{slug}", data='{"title": "Merged"}',
                         content_type="application/merge-patch+json")
    assert response.status_code == 200
    assert dbq(event_title, slug) == "Merged"


@pytest.mark.parametrize("raw", [b"[]", b'"an event"', b"42", b"null", b'[{"title": "x"}]'])
def test_a_body_that_is_not_an_object_is_422(api, dbq, raw):
    error = assert_json_error(api.post("/api/v1/events", data=raw, content_type="application/json"), 422, "invalid")
    assert "object" in error["message"]
    assert dbq(count_events) == 0


@pytest.mark.parametrize("changes, field, message", [
    ({"title": 42}, "title", "Must be a string."),
    ({"title": None}, "title", "Must not be null."),
    ({"title": ""}, "title", "This field is required."),
    ({"title": "x" * 201}, "title", "Use at most 200 characters."),
    ({"title": "Line\nbreak"}, "title", "Remove the control characters or line breaks."),
    ({"starts_at": "2027-03-08T08:30:00"}, "starts_at", "Give the time zone offset, e.g. 2027-03-08T18:30:00+01:00."),
    ({"starts_at": "next tuesday"}, "starts_at",
     "Use an ISO 8601 date and time with an offset, e.g. 2027-03-08T18:30:00+01:00."),
    ({"starts_at": 1773000000}, "starts_at",
     "Must be a string: an ISO 8601 date and time with an offset, e.g. 2027-03-08T18:30:00+01:00."),
    ({"starts_at": "0001-01-01T00:00:00+01:00"}, "starts_at", "Use a date between the years 1970 and 2999."),
    ({"ends_at": "2027-03-08T08:00:00+01:00"}, "ends_at", "The end must be after the start."),
    ({"ends_at": "2027-03-08T07:30:00Z"}, "ends_at", "The end must be after the start."),  # same instant
    ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Choose a time zone from the list, e.g. Europe/Berlin."),
    ({"timezone": ["Europe/Berlin"]}, "timezone", "Must be a string."),
    ({"status": "cancelled"}, "status", "Must be one of: draft, published."),
    ({"status": True}, "status", "Must be a string."),
    ({"capacity": -1}, "capacity", "Must be between 0 and 1,000,000."),
    ({"capacity": "100"}, "capacity", "Must be an integer."),
    ({"capacity": 10.0}, "capacity", "Must be an integer."),
    ({"currency": "EURO"}, "currency", "Use a three-letter currency code, e.g. USD or EUR."),
    ({"online_url": "javascript:alert(1)"}, "online_url", "Use a full web address starting with https://."),
    ({"slug": "Not A Slug"}, "slug",
     "Use lower-case letters, digits and single hyphens, e.g. spring-breakfast-2027."),
    ({"registration_closes_at": "2027-01-01T00:00:00Z", "registration_opens_at": "2027-02-01T00:00:00Z"},
     "registration_closes_at", "Registration must close after it opens."),
    ({"venue": "A", "venue_name": "B"}, "venue", "Give venue or venue_name, not both."),
    ({"venue": 7}, "venue", "Must be a string."),
    ({"venue": "x" * 201}, "venue", "Use at most 200 characters."),
    ({"organisation": "typo"}, "organisation", "Unknown field."),
    ({"cover_image": "x.png"}, "cover_image", "Unknown field."),
    ({"id": 3}, "id", "This field is read-only."),
])
def test_each_bad_field_is_named_on_create(api, dbq, changes, field, message):
    response = api.post("/api/v1/events", event_body(**changes))

    error = assert_json_error(response, 422, "invalid")
    assert error["fields"] == {field: message}
    assert field in error["message"]
    assert dbq(count_events) == 0


def test_one_answer_names_every_bad_field(api, dbq):
    response = api.post("/api/v1/events", {
        "title": 5, "starts_at": "2027-03-08T08:30:00", "ends_at": "2027-03-08T08:00:00+01:00",
        "timezone": "Nowhere/City", "capacity": "ten", "colour": "red", "status": "done",
    })

    error = assert_json_error(response, 422, "invalid")
    assert set(error["fields"]) == {"title", "starts_at", "timezone", "capacity", "colour", "status"}
    assert dbq(count_events) == 0

    no_end = api.post("/api/v1/events", {"title": "Fine", "starts_at": "2027-03-08T09:00:00+01:00",
                                         "ends_at": "2027-03-08T08:00:00+01:00", "timezone": "Europe/Berlin",
                                         "price": 10})
    assert set(no_end.get_json()["error"]["fields"]) == {"ends_at", "price"}
    missing = api.post("/api/v1/events", {})
    assert set(missing.get_json()["error"]["fields"]) == {"title", "starts_at", "ends_at", "timezone"}


def test_bad_patch_changes_nothing(api, dbq):
    slug = api.post("/api/v1/events", event_body(status="published")).get_json()["slug"]

    response = api.patch(f"/api/v1/events/{slug}", {"title": "New title", "ends_at": "2020-01-01T00:00:00Z",
                                                    "status": "archived", "url": "http://elsewhere"})

    error = assert_json_error(response, 422, "invalid")
    assert error["fields"] == {
        "ends_at": "The end must be after the start.",
        "status": "Must be one of: cancelled, draft, published.",
        "url": "This field is read-only.",
    }
    assert dbq(event_title, slug) == "Women in Leadership Breakfast"


def test_each_request_commits_once_and_a_refused_one_not_at_all(api, dbq):
    api.get("/api/v1/events")  # the token's last-used time is recorded on first use (its own commit)
    commits: list[int] = []

    def count(session):
        commits.append(1)

    sa_event.listen(Session, "after_commit", count)
    try:
        created = api.post("/api/v1/events", event_body())
        assert created.status_code == 201
        assert len(commits) == 1
        refused = api.post("/api/v1/events", event_body(title=42))
        assert refused.status_code == 422
        assert len(commits) == 1
        slug = created.get_json()["slug"]
        assert api.patch(f"/api/v1/events/{slug}", {"status": "published"}).status_code == 200
        assert len(commits) == 2
    finally:
        sa_event.remove(Session, "after_commit", count)
    assert dbq(lambda: db.session.scalar(select(Event.status))) == EventStatus.PUBLISHED
