"""No form tells whether an email has an account (or a registration): login, "forgot password?" and
"send my ticket again" answer known and unknown addresses with the same status and the same page
(the address she typed and the CSRF token aside), and login does the same password-hashing work
either way.

Not covered, by product decision: registering for an event with an address that already has a live
order for it answers "already registered" (and offers "send my ticket again"); see the README.
"""
from __future__ import annotations

import re

import pytest

from eventsite.extensions import db
from tests.conftest import csrf_from
from tests.factories import make_event, make_organizer, make_ticket_type

KNOWN, UNKNOWN, INACTIVE = "known@example.org", "unknown@example.org", "inactive@example.org"


@pytest.fixture
def accounts(app):
    with app.app_context():
        make_organizer(KNOWN)
        make_organizer(INACTIVE).active = False
        event = make_event(make_organizer("host@example.org").memberships[0].organization_id, slug="gala")
        make_ticket_type(event)
        db.session.commit()
        db.session.remove()


def _normalized(html: bytes, email: str) -> str:
    text = html.decode()
    text = re.sub(r'name="csrf_token"[^>]*>', "", text)
    return text.replace(email, "EMAIL")


def _login(client, email):
    token = csrf_from(client.get("/organizer/login").data)
    return client.post("/organizer/login", data={"csrf_token": token, "email": email, "password": "a wrong password"})


def _forgot(client, email):
    token = csrf_from(client.get("/organizer/password/forgot").data)
    return client.post("/organizer/password/forgot", data={"csrf_token": token, "email": email})


def _resend(client, email):
    token = csrf_from(client.get("/events/gala").data)
    return client.post("/events/gala/resend", data={"csrf_token": token, "email": email})


@pytest.mark.parametrize("ask", [_login, _forgot, _resend], ids=["login", "forgot-password", "resend-ticket"])
def test_known_and_unknown_emails_get_the_same_answer(app, accounts, ask):
    if ask is _resend:  # "known" here: an address registered for the event
        from tests.registration.views_helpers import register

        with app.app_context():
            from eventsite.events.models import TicketType

            tt = db.session.scalar(db.select(TicketType)).id
            db.session.remove()
        assert register(app.test_client(), "gala", {"name": "Kim Known", "email": KNOWN, f"quantity-{tt}": "1"}).status_code == 303
    answers = {email: ask(app.test_client(), email) for email in (KNOWN, UNKNOWN, INACTIVE)}
    statuses = {email: r.status_code for email, r in answers.items()}
    assert len(set(statuses.values())) == 1, statuses
    pages = {email: _normalized(r.data, email) for email, r in answers.items()}
    assert pages[KNOWN] == pages[UNKNOWN] == pages[INACTIVE]


def test_login_does_the_same_hashing_work_for_unknown_accounts(app, accounts, monkeypatch):
    from argon2 import PasswordHasher

    calls: list[str] = []
    real_verify = PasswordHasher.verify

    def counting_verify(self, hash_, password):
        calls.append("verify")
        return real_verify(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    for email in (KNOWN, UNKNOWN, INACTIVE):
        calls.clear()
        assert _login(app.test_client(), email).status_code == 401
        assert calls == ["verify"], (email, calls)
