"""Who reaches the attendee pages: owners and organizers; never door staff or other organizations."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from eventsite.accounts.models import Role
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Order, Ticket
from tests.conftest import csrf_from, login
from tests.factories import make_member, make_organizer
from tests.registration.manage_support import in_app, make_setup, register

POST_DATA = {"name": "Intruder", "email": "intruder@example.org", "ticket_type": "1", "quantity": "1"}


@pytest.fixture
def reg(app, organizer):
    """The event of manage_support.make_setup: published, Europe/Berlin, two free types, three questions."""
    return in_app(app, make_setup, organizer["organization_id"])


@pytest.fixture
def target(app, reg):
    """An order of two tickets, and every URL of the attendee pages for it."""
    order = register(app, reg.event_id, name="Ada Lovelace", email="ada@example.org", quantities={reg.general_id: 2},
                     attendees=[{"name": "Bea Bauer"}])
    values = {"slug": reg.slug, "code": order["code"], "ticket_id": str(order["tickets"][1]["id"])}
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("manage_registration."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], rule.rule)
            urls += [(method, path) for method in sorted(rule.methods & {"GET", "POST"})]
    return {"order": order, "urls": urls}


def _snapshot(app):
    def read():
        return ([(o.code, o.status, o.confirmation_count) for o in db.session.scalars(select(Order).order_by(Order.id))],
                [(t.id, t.status) for t in db.session.scalars(select(Ticket).order_by(Ticket.id))])
    return in_app(app, read)


def _walk(client, urls) -> dict:
    token = csrf_from(client.get("/organizer/settings").data)
    answers = {}
    for method, path in urls:
        if method == "GET":
            answers[(method, path)] = client.get(path).status_code
        else:
            answers[(method, path)] = client.post(path, data={"csrf_token": token, **POST_DATA}).status_code
    return answers


def test_the_walk_covers_every_page(target):
    paths = {p for _, p in target["urls"]}
    assert len(target["urls"]) >= 11
    assert any(p.endswith("/registrations.csv") for p in paths) and any(p.endswith("/complimentary") for p in paths)


def test_assigned_checkin_staff_gets_403_everywhere(app, organizer, reg, target):
    in_app(app, lambda: make_member(organizer["organization_id"], Role.CHECKIN, "door@example.org",
                                    events=[db.session.get(Event, reg.event_id)]))
    before = _snapshot(app)
    c = app.test_client()
    login(c, "door@example.org")
    answers = _walk(c, target["urls"])
    assert answers and all(code == 403 for code in answers.values()), answers
    assert _snapshot(app) == before
    assert "Ada Lovelace" not in c.get(f"/organizer/events/{reg.slug}/registrations").get_data(as_text=True)


def test_unassigned_checkin_staff_and_other_organizations_get_404(app, organizer, reg, target):
    in_app(app, lambda: make_member(organizer["organization_id"], Role.CHECKIN, "door2@example.org"))
    in_app(app, lambda: make_organizer("rival@example.org"))
    before = _snapshot(app)
    for email in ("door2@example.org", "rival@example.org"):
        c = app.test_client()
        login(c, email)
        answers = _walk(c, target["urls"])
        assert answers and all(code == 404 for code in answers.values()), (email, answers)
    assert _snapshot(app) == before


def test_another_organization_cannot_reach_an_order_through_its_own_event(app, reg, target):
    rival = in_app(app, lambda: make_organizer("rival@example.org").memberships[0].organization_id)
    theirs = in_app(app, make_setup, rival, slug="rival-event")
    c = app.test_client()
    login(c, "rival@example.org")
    code = target["order"]["code"]
    ticket_id = target["order"]["tickets"][1]["id"]
    assert c.get(f"{theirs.base}/orders/{code}").status_code == 404
    token = csrf_from(c.get(f"{theirs.base}/registrations").data)
    for path in (f"orders/{code}/cancel", f"orders/{code}/resend", f"orders/{code}/tickets/{ticket_id}/cancel"):
        assert c.post(f"{theirs.base}/{path}", data={"csrf_token": token}).status_code == 404
    assert "Ada Lovelace" not in c.get(f"{theirs.base}/registrations?q=ada").get_data(as_text=True)
    assert "Ada Lovelace" not in c.get(f"{theirs.base}/registrations.csv").get_data(as_text=True)


def test_a_co_organizer_can_manage_attendees(app, organizer, reg, target):
    in_app(app, lambda: make_member(organizer["organization_id"], Role.ORGANIZER, "co@example.org"))
    c = app.test_client()
    login(c, "co@example.org")
    assert "Ada Lovelace" in c.get(f"/organizer/events/{reg.slug}/registrations").get_data(as_text=True)
    assert c.get(f"/organizer/events/{reg.slug}/orders/{target['order']['code']}").status_code == 200


def test_anonymous_visitors_are_sent_to_login(client, target):
    for method, path in target["urls"]:
        response = client.open(path, method=method)
        assert response.status_code in (302, 400, 401), (method, path, response.status_code)
        if response.status_code == 302:
            assert "/organizer/login" in response.headers["Location"]
