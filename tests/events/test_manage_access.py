"""Who reaches the editor: every organizer route, walked as door staff, as an outsider, and anonymously."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from eventsite.accounts.models import Role
from eventsite.events.models import Event, EventStatus, Question, TicketType
from eventsite.extensions import db
from tests.conftest import csrf_from
from tests.events.manage_helpers import sign_in
from tests.factories import make_event, make_member, make_organizer, make_question, make_ticket_type


@pytest.fixture
def target(app, organizer):
    """An event with a ticket type and a question, and the editor's every URL for it."""
    with app.app_context():
        event = make_event(organizer["organization_id"], slug="private-dinner", title="Private Dinner",
                           status=EventStatus.DRAFT)
        tt = make_ticket_type(event)
        q = make_question(event)
        values = {"slug": event.slug, "ticket_type_id": tt.id, "question_id": q.id}
        urls = []
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("manage_events.") or rule.rule == "/organizer/":
                continue
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule.rule)
            for method in sorted(rule.methods & {"GET", "POST"}):
                urls.append((method, path))
        return {"event_id": event.id, "urls": urls}


def _snapshot():
    event = db.session.scalar(select(Event).where(Event.slug == "private-dinner"))
    return (event.status, event.title, [(t.id, t.hidden, t.position) for t in db.session.scalars(select(TicketType))],
            [(q.id, q.position) for q in db.session.scalars(select(Question))])


def _walk(client, urls, data):
    token = csrf_from(client.get("/organizer/").data)
    answers = {}
    for method, path in urls:
        if method == "GET":
            answers[(method, path)] = client.get(path).status_code
        else:
            answers[(method, path)] = client.post(path, data={"csrf_token": token, **data}).status_code
    return answers


POST_DATA = {"title": "Hacked", "direction": "up", "hidden": "1", "name": "x", "price": "1", "currency": "EUR",
             "capacity": "1", "max_per_order": "1", "label": "x", "kind": "short_text", "timezone": "UTC",
             "starts_at": "2030-01-01T10:00", "ends_at": "2030-01-01T12:00"}


def test_the_walk_covers_every_editor_page(target):
    paths = {path for _, path in target["urls"]}
    assert len(target["urls"]) >= 20
    assert {"/organizer/events/private-dinner/edit", "/organizer/events/private-dinner/cancel",
            "/organizer/events/new"} <= paths


def test_assigned_checkin_staff_is_refused_everywhere_in_the_editor(app, organizer, target):
    with app.app_context():
        event = db.session.get(Event, target["event_id"])
        make_member(organizer["organization_id"], Role.CHECKIN, "door@example.org", events=[event])
        before = _snapshot()
    c = app.test_client()
    sign_in(c, "door@example.org")
    answers = _walk(c, target["urls"], POST_DATA)
    assert answers and all(code == 403 for code in answers.values()), answers
    with app.app_context():
        assert _snapshot() == before

    dashboard = c.get("/organizer/").get_data(as_text=True)
    assert "Private Dinner" in dashboard  # she sees the event she works the door of...
    links = set(re.findall(r'href="(/organizer/events/private-dinner[^"]*)"', dashboard))
    assert links == {"/organizer/events/private-dinner/checkin"}  # ...the check-in screen, no way into the editor
    assert 'href="/organizer/events/new"' not in dashboard


def test_unassigned_checkin_staff_does_not_learn_the_event_exists(app, organizer, target):
    with app.app_context():
        make_member(organizer["organization_id"], Role.CHECKIN, "door2@example.org")
    c = app.test_client()
    sign_in(c, "door2@example.org")
    answers = _walk(c, target["urls"], POST_DATA)
    new_event = {k: v for k, v in answers.items() if k[1] == "/organizer/events/new"}
    assert all(code == 403 for code in new_event.values())
    assert all(code == 404 for k, code in answers.items() if k[1] != "/organizer/events/new"), answers
    assert "Private Dinner" not in c.get("/organizer/").get_data(as_text=True)


def test_organizer_of_another_organization_gets_404(app, organizer, target):
    with app.app_context():
        rival = make_organizer("rival@example.org").memberships[0].organization_id
        before = _snapshot()
    c = app.test_client()
    sign_in(c, "rival@example.org")
    answers = _walk(c, target["urls"], POST_DATA)
    assert all(code == 404 for k, code in answers.items() if k[1] != "/organizer/events/new"), answers
    with app.app_context():
        assert _snapshot() == before
        # POST /organizer/events/new made an event in HER organization, never in ours.
        assert db.session.scalar(select(Event.organization_id).where(Event.title == "Hacked")) == rival
        ours = db.session.scalars(select(Event.slug).where(Event.organization_id == organizer["organization_id"]))
        assert list(ours) == ["private-dinner"]


def test_co_organizer_can_edit(app, organizer, target):
    with app.app_context():
        make_member(organizer["organization_id"], Role.ORGANIZER, "co@example.org")
    c = app.test_client()
    sign_in(c, "co@example.org")
    assert c.get("/organizer/events/private-dinner/edit").status_code == 200
    assert "Private Dinner" in c.get("/organizer/").get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_login(client, target):
    for method, path in target["urls"]:
        response = client.open(path, method=method)
        assert response.status_code in (302, 401, 400), (method, path, response.status_code)
        if response.status_code == 302:
            assert "/organizer/login" in response.headers["Location"]
