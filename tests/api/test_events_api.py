"""POST/GET/PATCH /api/v1/events: what an integrator does, checked in the database and on the public site."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from eventsite.accounts.models import Role, User
from eventsite.accounts.services import create_organization
from eventsite.core.db import utcnow
from eventsite.events import services
from eventsite.events.models import Event, EventStatus
from eventsite.extensions import db
from tests.api.conftest import ApiClient, event_body, issue_token
from tests.factories import make_event, make_member, make_organizer


def event_row(slug: str) -> Event | None:
    return db.session.scalar(select(Event).where(Event.slug == slug))


def count_events() -> int:
    return db.session.scalar(select(func.count()).select_from(Event))


def public_slugs() -> list[str]:
    return [e.slug for e in services.upcoming_public_events()]


def renders_events(html: str) -> bool:
    """The public home page is built by another engineer; assert on its HTML once it is a real page."""
    return "<html" in html.lower()


def test_create_published_event_answers_201_and_appears_publicly(api, client, dbq, owner):
    response = api.post("/api/v1/events", event_body(status="published", summary="Breakfast and talks",
                                                     venue_address="Hauptstraße 1, Berlin"))

    assert response.status_code == 201
    event = response.get_json()
    assert event["slug"] == "women-in-leadership-breakfast"
    assert event["url"] == "http://eventsite.test/events/women-in-leadership-breakfast"
    assert response.headers["Location"] == "/api/v1/events/women-in-leadership-breakfast"
    assert event["status"] == "published"
    assert event["organization"] == owner["organization_slug"]
    assert event["starts_at"] == "2027-03-08T07:30:00Z"
    assert event["starts_at_local"] == "2027-03-08T08:30:00+01:00"
    assert event["ends_at"] == "2027-03-08T10:00:00Z"
    assert event["ends_at_local"] == "2027-03-08T11:00:00+01:00"
    assert event["venue_name"] == "Kulturhaus Mitte"
    assert event["ticket_types"] == []  # published before it has ticket types

    row = dbq(event_row, event["slug"])
    assert row.organization_id == owner["organization_id"]
    assert row.status == EventStatus.PUBLISHED
    assert row.starts_at == datetime(2027, 3, 8, 7, 30, tzinfo=timezone.utc)
    assert (row.venue_name, row.venue_address) == ("Kulturhaus Mitte", "Hauptstraße 1, Berlin")
    assert row.summary == "Breakfast and talks"
    assert dbq(public_slugs) == [event["slug"]]

    home = client.get("/").get_data(as_text=True)
    if renders_events(home):
        assert "Women in Leadership Breakfast" in home
        page = client.get("/events/women-in-leadership-breakfast")
        assert page.status_code == 200
        assert "Women in Leadership Breakfast" in page.get_data(as_text=True)


def test_create_draft_is_not_public(api, client, dbq):
    response = api.post("/api/v1/events", event_body(title="Mentoring Circle"))

    assert response.status_code == 201
    assert response.get_json()["status"] == "draft"
    assert dbq(event_row, "mentoring-circle").status == EventStatus.DRAFT
    assert dbq(public_slugs) == []
    assert "Mentoring Circle" not in client.get("/").get_data(as_text=True)
    assert api.get("/api/v1/events/mentoring-circle").get_json()["title"] == "Mentoring Circle"


def test_create_with_every_field(api, dbq):
    response = api.post("/api/v1/events", {
        "title": "Board Governance Day", "slug": "board-day-2027", "summary": "A day on boards",
        "description": "**Talks** and workshops", "starts_at": "2027-05-01T09:00:00-04:00",
        "ends_at": "2027-05-01T17:00:00-04:00", "timezone": "America/New_York", "venue_name": "The Loft",
        "venue_address": "1 Main St", "online_url": "https://meet.example.org/board", "capacity": 120,
        "currency": "usd", "registration_opens_at": "2027-03-01T00:00:00Z",
        "registration_closes_at": "2027-04-30T12:00:00+02:00", "status": "published",
    })

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["slug"] == "board-day-2027"
    assert body["registration_closes_at"] == "2027-04-30T10:00:00Z"
    assert body["registration_closes_at_local"] == "2027-04-30T06:00:00-04:00"
    row = dbq(event_row, "board-day-2027")
    assert (row.capacity, row.currency, row.online_url) == (120, "USD", "https://meet.example.org/board")
    assert (row.description, row.timezone) == ("**Talks** and workshops", "America/New_York")
    assert row.registration_opens_at == datetime(2027, 3, 1, tzinfo=timezone.utc)


def test_a_taken_slug_is_a_field_error_and_the_same_title_gets_a_new_slug(api, dbq):
    assert api.post("/api/v1/events", event_body()).status_code == 201
    second = api.post("/api/v1/events", event_body())
    assert second.status_code == 201
    assert second.get_json()["slug"] == "women-in-leadership-breakfast-2"

    taken = api.post("/api/v1/events", event_body(slug="women-in-leadership-breakfast"))
    assert taken.status_code == 422
    assert taken.get_json()["error"]["fields"] == {"slug": "This address is taken; choose another."}
    assert dbq(count_events) == 2


def test_list_and_get_show_only_her_events(api, app):
    with app.app_context():
        other = make_organizer("someone@example.org")
        make_event(other.memberships[0].organization_id, title="Not hers", slug="not-hers")
    api.post("/api/v1/events", event_body(title="Later one", starts_at="2027-06-01T10:00:00+02:00",
                                          ends_at="2027-06-01T12:00:00+02:00", status="published"))
    api.post("/api/v1/events", event_body(title="Early one"))

    listed = api.get("/api/v1/events").get_json()["events"]
    assert [e["slug"] for e in listed] == ["early-one", "later-one"]
    published = api.get("/api/v1/events?status=published").get_json()["events"]
    assert [e["slug"] for e in published] == ["later-one"]
    bad = api.get("/api/v1/events?status=archived")
    assert bad.status_code == 422
    assert list(bad.get_json()["error"]["fields"]) == ["status"]
    assert api.get("/api/v1/events/not-hers").status_code == 404


def test_patch_times_into_the_past(api, dbq):
    slug = api.post("/api/v1/events", event_body(status="published")).get_json()["slug"]
    start = (utcnow() - timedelta(days=30)).replace(microsecond=0)

    response = api.patch(f"/api/v1/events/{slug}", {
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
    })

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["starts_at"] == start.isoformat().replace("+00:00", "Z")
    row = dbq(event_row, slug)
    assert (row.starts_at, row.ends_at) == (start, start + timedelta(hours=2))
    assert row.is_past
    assert dbq(public_slugs) == []  # over, so no longer listed as upcoming


def test_patch_other_fields_and_the_slug(api, dbq):
    slug = api.post("/api/v1/events", event_body(capacity=50)).get_json()["slug"]

    response = api.patch(f"/api/v1/events/{slug}", {"title": "Renamed", "venue": "Town Hall", "slug": "renamed",
                                                    "timezone": "Europe/London", "capacity": None})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["title"], body["venue_name"], body["slug"]) == ("Renamed", "Town Hall", "renamed")
    assert body["url"].endswith("/events/renamed")
    assert body["starts_at_local"] == "2027-03-08T07:30:00+00:00"  # the same moment, shown in London
    assert api.get(f"/api/v1/events/{slug}").status_code == 404
    row = dbq(event_row, "renamed")
    assert (row.venue_name, row.timezone, row.capacity) == ("Town Hall", "Europe/London", None)


def test_patch_status_publishes_and_cancels_and_cancelled_stays_cancelled(api, dbq):
    slug = api.post("/api/v1/events", event_body()).get_json()["slug"]

    assert api.patch(f"/api/v1/events/{slug}", {"status": "published"}).get_json()["status"] == "published"
    assert dbq(public_slugs) == [slug]

    cancelled = api.patch(f"/api/v1/events/{slug}", {"status": "cancelled"})
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    assert dbq(event_row, slug).status == EventStatus.CANCELLED
    assert dbq(public_slugs) == []

    again = api.patch(f"/api/v1/events/{slug}", {"status": "published", "title": "Back again"})
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "cancelled"
    row = dbq(event_row, slug)
    assert (row.status, row.title) == (EventStatus.CANCELLED, "Women in Leadership Breakfast")


def test_organization_must_be_named_when_she_manages_several(app, api, dbq, owner):
    with app.app_context():
        second = create_organization("Second Circle", owner=db.session.get(User, owner["id"]))
        db.session.commit()
        second_id, second_slug = second.id, second.slug
        foreign = make_organizer("foreign@example.org").memberships[0].organization.slug

    missing = api.post("/api/v1/events", event_body(title=""))
    assert missing.status_code == 422
    fields = missing.get_json()["error"]["fields"]
    assert second_slug in fields["organization"] and owner["organization_slug"] in fields["organization"]
    assert fields["title"] == "This field is required."  # the other fields are still checked

    not_hers = api.post("/api/v1/events", event_body(organization=foreign))
    assert not_hers.status_code == 422
    assert list(not_hers.get_json()["error"]["fields"]) == ["organization"]
    assert dbq(count_events) == 0

    created = api.post("/api/v1/events", event_body(organization=second_slug))
    assert created.status_code == 201
    assert created.get_json()["organization"] == second_slug
    assert dbq(event_row, created.get_json()["slug"]).organization_id == second_id


def test_checkin_staff_cannot_create_events(app, client, dbq, owner):
    with app.app_context():
        token = issue_token(make_member(owner["organization_id"], Role.CHECKIN))

    response = ApiClient(client, token).post("/api/v1/events", event_body())

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert dbq(count_events) == 0


@pytest.mark.postgres_only
def test_two_concurrent_creates_with_one_title_both_succeed(app, owner, dbq, monkeypatch):
    """Both requests pick the same free slug at once; the loser of the unique index retries."""
    barrier = threading.Barrier(2, timeout=10)
    picked: list[str] = []
    lock = threading.Lock()
    original = services.unique_slug

    def racing_unique_slug(title, **kw):
        slug = original(title, **kw)
        with lock:
            first_round = len(picked) < 2
            picked.append(slug)
        if first_round:
            barrier.wait()
        return slug

    monkeypatch.setattr(services, "unique_slug", racing_unique_slug)
    results: list = []

    def create():
        response = ApiClient(app.test_client(), owner["token"]).post("/api/v1/events", event_body())
        results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert [status for status, _ in results] == [201, 201], results
    assert picked[:2] == ["women-in-leadership-breakfast"] * 2
    assert sorted(body["slug"] for _, body in results) == [
        "women-in-leadership-breakfast", "women-in-leadership-breakfast-2"]
    assert dbq(count_events) == 2
