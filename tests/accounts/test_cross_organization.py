"""A member of organization B reaches nothing of organization A (issue 2, deliverable 6).

The test walks EVERY route under /organizer/ in the app's url_map, so routes added later are covered
without touching this file. URL parameters are filled from PARAMS with ids and slugs of A's rows; an
unknown int parameter gets a number no row has, an unknown string parameter A's event slug. Each
route is requested with every method it accepts (POSTs with B's valid CSRF token and plausible
form data) and must answer 403 or 404: never 200, never a redirect (B is logged in), never 500.
Routes that take an event slug and a child id are also tried with B's own event slug and A's child
ids (a view that checks the event but not that the child belongs to it). Afterwards every table is
exactly as before. Routes that are not event- or organization-specific are listed in
NOT_ORG_SPECIFIC (and any route without parameters is treated so): B gets her own pages there, and
none of A's data may appear in them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from eventsite.accounts import team
from eventsite.accounts.models import Role
from eventsite.accounts.services import create_api_token, create_organizer
from eventsite.extensions import db
from tests.conftest import csrf_from, login
from tests.factories import make_event, make_member, make_question, make_ticket_type

# Endpoints that name no event or organization: B's own dashboard, settings and team, the login
# and password reset pages, and invitation links (their token is the secret; tested in
# test_invitations.py; reset links in test_password_reset.py).
NOT_ORG_SPECIFIC = {
    "manage_events.dashboard",
    "accounts.login",
    "accounts.logout",
    "accounts.forgot_password",
    "accounts.reset_password",
    "accounts.settings",
    "accounts.update_profile",
    "accounts.change_password",
    "accounts.create_token",
    "accounts.team_page",
    "accounts.invitation",
}

# URL parameter name -> attribute of OrgA holding the id or slug of A's row of that kind.
PARAMS = {
    "slug": "event_slug",
    "event_slug": "event_slug",
    "event_id": "event_id",
    "ticket_type_id": "ticket_type_id",
    "question_id": "question_id",
    "membership_id": "membership_id",
    "member_id": "membership_id",
    "invitation_id": "invitation_id",
    "token_id": "token_id",
    "organization_id": "organization_id",
    "org_id": "organization_id",
    "user_id": "owner_id",
}
EVENT_PARAMS = {"slug", "event_slug"}
# Secret-token parameters get a well-formed token that matches nothing.
TOKENS = {"token": "Z" * 26}
UNKNOWN_INT = 2_000_000_000  # fits PostgreSQL's integer; no row has it

# What a form might contain; if a view skipped its access check, this would change A's data.
PLAUSIBLE_FORM = {
    "title": "Taken over", "name": "Taken over", "label": "Taken over", "summary": "x", "description": "x",
    "email": "intruder@example.org", "role": "owner", "status": "cancelled", "price_cents": "0", "price": "0",
    "capacity": "1", "currency": "USD", "kind": "short_text", "direction": "up", "hidden": "y", "confirm": "y",
    "token_name": "x", "reason": "x", "subject": "x", "body": "x", "message": "x",
}

A_MARKERS = (
    "Alpha Secret Org", "Alpha Secret Gala", "Alpha VIP Pass", "Alpha secret question", "Alpha Owner Person",
    "alpha-owner@example.org", "alpha-door@example.org", "alpha-invitee@example.org", "Alpha token name",
)

_PARAM_RE = re.compile(r"<(?:(?P<conv>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")


@dataclass
class OrgA:
    organization_id: int
    owner_id: int
    event_id: int
    event_slug: str
    ticket_type_id: int
    question_id: int
    membership_id: int
    invitation_id: int
    token_id: int


def _make_org_a() -> OrgA:
    owner = create_organizer("alpha-owner@example.org", "correct horse battery", name="Alpha Owner Person",
                             organization_name="Alpha Secret Org")
    db.session.commit()
    org_id = owner.memberships[0].organization_id
    event = make_event(org_id, title="Alpha Secret Gala", slug="alpha-secret-gala")
    ticket_type = make_ticket_type(event, name="Alpha VIP Pass")
    question = make_question(event, label="Alpha secret question")
    door = make_member(org_id, Role.CHECKIN, "alpha-door@example.org", events=[event])
    invitation, _ = team.invite_member(org_id, "alpha-invitee@example.org", "organizer", actor=owner)
    token, _ = create_api_token(owner, "Alpha token name")
    db.session.commit()
    return OrgA(org_id, owner.id, event.id, event.slug, ticket_type.id, question.id,
                door.memberships[0].id, invitation.id, token.id)


def _snapshot() -> dict[str, list[tuple]]:
    return {
        table.name: sorted(tuple(str(v) for v in row) for row in db.session.execute(select(table)).all())
        for table in db.metadata.sorted_tables
    }


def _organizer_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.rule.startswith("/organizer")), key=lambda r: r.rule)


def _url(rule, a: OrgA, *, event_slug: str | None = None) -> str:
    def fill(m: re.Match) -> str:
        conv, name = m.group("conv") or "default", m.group("name")
        if name in EVENT_PARAMS and event_slug is not None:
            return event_slug
        if name in PARAMS:
            return str(getattr(a, PARAMS[name]))
        if name in TOKENS:
            return TOKENS[name]
        return str(UNKNOWN_INT) if conv == "int" else a.event_slug

    return _PARAM_RE.sub(fill, rule.rule)


def _methods(rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


@pytest.fixture(params=["owner", "checkin"])
def member_of_b(request, app, organizer):
    """A logged-in member of organization B (the `organizer` fixture's), as owner or as door staff
    assigned to B's own event."""
    with app.app_context():
        event_b = make_event(organizer["organization_id"], title="Bravo Evening", slug="bravo-evening")
        make_ticket_type(event_b, name="Bravo ticket")
        make_question(event_b, label="Bravo question")
        email = organizer["email"]
        if request.param == "checkin":
            email = make_member(organizer["organization_id"], Role.CHECKIN, "bravo-door@example.org", events=[event_b]).email
        db.session.remove()
    client = app.test_client()
    login(client, email)
    return client, "bravo-evening"


def test_every_organizer_route_refuses_another_organizations_data(app, member_of_b):
    client, b_slug = member_of_b
    with app.app_context():
        a = _make_org_a()
        before = _snapshot()
        db.session.remove()

    csrf = csrf_from(client.get("/organizer/settings").data)
    failures: list[str] = []
    walked: set[str] = set()

    def check(method: str, url: str, allowed: tuple[int, ...]) -> None:
        if method == "GET":
            response = client.get(url)
        else:
            response = client.open(url, method=method, data={"csrf_token": csrf, **PLAUSIBLE_FORM})
        body = response.get_data(as_text=True)
        leaked = [m for m in A_MARKERS if m in body]
        if response.status_code not in allowed or leaked:
            failures.append(f"{method} {url} -> {response.status_code}" + (f", shows {leaked}" if leaked else ""))

    for rule in _organizer_rules(app):
        params = set(rule.arguments)
        if rule.endpoint in NOT_ORG_SPECIFIC or not params:
            if "GET" in rule.methods:
                # Her own page (or 403 where her role is not enough); a stray invitation link is 404.
                check("GET", _url(rule, a), (200, 302, 303, 403, 404))
            continue
        walked.add(rule.endpoint)
        variants = [_url(rule, a)]
        if params & EVENT_PARAMS and params - EVENT_PARAMS:
            variants.append(_url(rule, a, event_slug=b_slug))  # B's own event, A's ticket type/question
        for url in variants:
            for method in _methods(rule):
                check(method, url, (403, 404))

    assert not failures, "Organization B reached organization A:\n" + "\n".join(failures)
    # The walk covered the organization-specific routes of at least these domains.
    for endpoint in ("accounts.change_role", "accounts.remove_member", "accounts.door_events", "accounts.invite",
                     "accounts.revoke_invitation", "accounts.resend_invitation", "accounts.revoke_token"):
        assert endpoint in walked
    assert any(e.startswith("manage_events.") for e in walked)

    with app.app_context():
        assert _snapshot() == before, "a request of B changed the database"
    # B is still logged in: every answer above was a refusal, not a login redirect.
    assert client.get("/organizer/settings").status_code == 200


def test_team_and_settings_of_b_show_nothing_of_a(app, organizer_client):
    with app.app_context():
        _make_org_a()
        db.session.remove()
    for url in ("/organizer/", "/organizer/team", "/organizer/settings"):
        response = organizer_client.get(url)
        assert response.status_code == 200, url
        body = response.get_data(as_text=True)
        assert [m for m in A_MARKERS if m in body] == [], url
