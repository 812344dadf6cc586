"""Check-in staff reach the check-in screen, scan, undo, search and counter of their events, and nothing else.

Walks EVERY route under /organizer/ in the url_map (so routes added later are covered too) as a
check-in staff member assigned to the event, with every method, the URL filled with ids of THIS
event and organization (so a view that forgot its role check would answer 200, not a 404 for a
missing row). Outside the check-in pages every answer must be 403 or 404 and the database must not
change; her own pages (dashboard, settings, login, logout) are hers. An event of her organization
she is not assigned to is invisible everywhere.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from eventsite.accounts import team
from eventsite.accounts.models import Membership
from eventsite.accounts.services import create_api_token
from eventsite.extensions import db
from tests.accounts.test_cross_organization import (
    NOT_ORG_SPECIFIC,
    PLAUSIBLE_FORM,
    _snapshot,
)
from tests.checkin.conftest import ticket, user
from tests.conftest import csrf_from
from tests.factories import make_event, make_ticket_type

DOOR_ENDPOINTS = {"checkin.screen", "checkin.scan", "checkin.undo", "checkin.search", "checkin.stats"}
_PARAM_RE = re.compile(r"<(?:(?P<conv>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
HIDDEN_EVENT = "Unassigned Winter Gala"


@pytest.fixture
def world(app, door, tickets, organizer):
    """Ids of this event's rows and of the organization's, for filling URLs."""
    [secret] = tickets(name="Walk Attendee")
    with app.app_context():
        owner = user(organizer["email"])
        staff = user(door.staff_email)
        hidden = make_event(door.organization_id, title=HIDDEN_EVENT, slug="unassigned-winter-gala")
        make_ticket_type(hidden, name="Hidden pass")
        invitation, _ = team.invite_member(door.organization_id, "invitee@example.org", "organizer", actor=owner)
        token, _ = create_api_token(owner, "Owner token")
        db.session.commit()
        t = ticket(secret)
        membership = db.session.scalar(select(Membership).where(Membership.user_id == staff.id))
        values = {
            "slug": door.slug, "event_slug": door.slug, "event_id": door.event_id,
            "ticket_type_id": door.free_type_id, "question_id": door.diet_question_id,
            "code": t.order.code, "order_code": t.order.code, "order_id": t.order_id, "ticket_id": t.id,
            "membership_id": membership.id, "member_id": membership.id, "organization_id": door.organization_id,
            "org_id": door.organization_id, "invitation_id": invitation.id, "token_id": token.id,
            "user_id": owner.id, "token": "Z" * 26,
        }
        db.session.remove()
    return {"secret": secret, "values": values, "hidden_slug": "unassigned-winter-gala"}


def _url(rule, values: dict, *, slug: str | None = None) -> str:
    def fill(m: re.Match) -> str:
        name = m.group("name")
        if slug is not None and name in ("slug", "event_slug"):
            return slug
        return str(values.get(name, 2_000_000_000 if m.group("conv") == "int" else values["slug"]))

    return _PARAM_RE.sub(fill, rule.rule)


def test_check_in_staff_reach_only_the_check_in_pages_of_their_event(app, door, world, staff_client):
    client = staff_client
    csrf = client.csrf
    with app.app_context():
        before = _snapshot()
        db.session.remove()
    failures: list[str] = []
    walked: set[str] = set()

    def check(method: str, url: str, allowed: tuple[int, ...]) -> None:
        if method == "GET":
            response = client.get(url)
        else:
            response = client.open(url, method=method, data={"csrf_token": csrf, **PLAUSIBLE_FORM})
        body = response.get_data(as_text=True)
        if response.status_code not in allowed or HIDDEN_EVENT in body or "Hidden pass" in body:
            failures.append(f"{method} {url} -> {response.status_code}")

    rules = sorted((r for r in app.url_map.iter_rules() if r.rule.startswith("/organizer")), key=lambda r: r.rule)
    for rule in rules:
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        if rule.endpoint in DOOR_ENDPOINTS:
            continue  # checked below, with real requests
        if rule.endpoint in NOT_ORG_SPECIFIC:
            # Her own pages (dashboard, settings, the read-only list of her team); a stray invitation
            # link is 404. None of them may show the event she does not work.
            if "GET" in methods:
                check("GET", _url(rule, world["values"]), (200, 302, 303, 404))
            continue
        walked.add(rule.endpoint)
        for method in methods:
            check(method, _url(rule, world["values"]), (403, 404))
            if rule.arguments & {"slug", "event_slug"}:  # the event she does not work either
                check(method, _url(rule, world["values"], slug=world["hidden_slug"]), (403, 404))

    assert not failures, "Check-in staff reached pages outside the check-in screen:\n" + "\n".join(failures)
    assert {"manage_events.event", "manage_events.edit_event", "manage_events.new_event", "checkin.report",
            "accounts.door_events", "accounts.invite", "accounts.revoke_token"} <= walked
    with app.app_context():
        assert _snapshot() == before, "a refused request changed the database"
        db.session.remove()

    # The check-in pages of her event all work...
    base = f"/organizer/events/{door.slug}/checkin"
    assert client.get(base).status_code == 200
    assert client.get(base + "/search?q=walk").get_json()["results"][0]["attendee_name"] == "Walk Attendee"
    assert client.get(base + "/stats").get_json() == {"checked_in": 0, "expected": 1}
    headers = {"X-CSRFToken": csrf, "Accept": "application/json"}
    ok = client.post(base + "/scan", json={"code": world["secret"]}, headers=headers)
    assert ok.status_code == 200 and ok.get_json()["result"] == "ok"
    undo = client.post(base + "/undo", json={"scan_id": ok.get_json()["scan_id"]}, headers=headers)
    assert undo.status_code == 200 and undo.get_json()["undone"] is True
    # ...and none of the event she is not assigned to.
    hidden = f"/organizer/events/{world['hidden_slug']}/checkin"
    for url in (hidden, hidden + "/search?q=a", hidden + "/stats"):
        assert client.get(url).status_code == 404
    assert client.post(hidden + "/scan", json={"code": world["secret"]}, headers=headers).status_code == 404

    # Her dashboard lists her event (linked to the screen) and not the other.
    dashboard = client.get("/organizer/").get_data(as_text=True)
    assert f'href="{base}"' in dashboard and HIDDEN_EVENT not in dashboard
    assert client.get("/organizer/settings").status_code == 200  # still logged in throughout


def test_owners_and_organizers_reach_the_screen_and_the_report(app, door, organizer_client):
    assert organizer_client.get(f"/organizer/events/{door.slug}/checkin").status_code == 200
    report = organizer_client.get(f"/organizer/events/{door.slug}/checkin/report")
    assert report.status_code == 200 and "Open the check-in screen" in report.get_data(as_text=True)
    csrf = csrf_from(organizer_client.get(f"/organizer/events/{door.slug}/checkin").data)
    scan = organizer_client.post(f"/organizer/events/{door.slug}/checkin/scan", json={"code": "NOPE"},
                                 headers={"X-CSRFToken": csrf, "Accept": "application/json"})
    assert scan.get_json()["result"] == "unknown"
