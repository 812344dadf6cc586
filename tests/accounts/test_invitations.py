"""Invitations by email link: queued in the outbox, delivered by the worker, used once."""
from __future__ import annotations

from datetime import timedelta

from markupsafe import escape
from sqlalchemy import func, select

from eventsite.accounts.models import Invitation, Membership, Role, User
from eventsite.core.db import utcnow
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.security import hash_token
from eventsite.extensions import db
from tests.accounts.conftest import invitation_token
from tests.conftest import csrf_from, login, post_form
from tests.factories import make_member, make_organizer


def _invite(client, organizer, email: str, role: str = "organizer"):
    return post_form(client, f"/organizer/team/{organizer['organization_id']}/invite",
                     {"email": email, "role": role}, form_url="/organizer/team")


def _outbox(app, email: str) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_addr == email).order_by(OutboxMessage.id)).all()
        for r in rows:
            db.session.expunge(r)
        return rows


def _deliver(app) -> int:
    from eventsite.core.mail.worker import deliver_due

    with app.app_context():
        sent = deliver_due()
        db.session.remove()
        return sent


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _org_name(app, organizer) -> str:
    from eventsite.accounts.models import Organization

    with app.app_context():
        return db.session.get(Organization, organizer["organization_id"]).name


def test_a_new_person_accepts_an_invitation_end_to_end(app, organizer_client, organizer, mailbox):
    response = _invite(organizer_client, organizer, "Nora.New@Example.org", "organizer")
    assert response.status_code == 303
    assert "Invitation sent to nora.new@example.org" in organizer_client.get("/organizer/team").data.decode()

    # One email queued in the same transaction, with the link; only the token's hash is stored.
    [queued] = _outbox(app, "nora.new@example.org")
    org = _org_name(app, organizer)
    assert queued.subject == f"Olivia Owner invited you to join {org} on eventsite"
    token = invitation_token(queued.text_body)
    assert f"http://eventsite.test/organizer/invitations/{token}" in queued.html_body
    with app.app_context():
        inv = db.session.scalar(select(Invitation))
        assert queued.key == f"invitation:{inv.id}"
        assert inv.token_hash == hash_token(token) and token not in inv.token_hash
        assert inv.email == "nora.new@example.org" and inv.role == Role.ORGANIZER
        assert timedelta(days=6, hours=23) < inv.expires_at - utcnow() <= timedelta(days=7)

    # The worker delivers it; the link in the email that arrived is the one she follows.
    assert _deliver(app) >= 1
    [mail] = mailbox.to("nora.new@example.org")
    message = mail.message
    assert message["Subject"] == queued.subject
    text = message.get_body(("plain",)).get_content()
    assert invitation_token(text) == token

    nora = app.test_client()
    page = nora.get(f"/organizer/invitations/{token}")
    assert page.status_code == 200
    html = page.data.decode()
    assert str(escape(f"Join {org}")) in html and "nora.new@example.org" in html and "Create account and join" in html
    assert page.headers["Cache-Control"] == "no-store"

    bad = nora.post(f"/organizer/invitations/{token}", data={
        "csrf_token": csrf_from(page.data), "name": "Nora New", "password": "short", "confirm_password": "short"})
    assert bad.status_code == 422 and b"Use at least 10 characters." in bad.data
    assert _count(app, User, User.email == "nora.new@example.org") == 0

    done = nora.post(f"/organizer/invitations/{token}", data={
        "csrf_token": csrf_from(page.data), "name": "Nora New",
        "password": "a long new passphrase", "confirm_password": "a long new passphrase"})
    assert done.status_code == 303 and done.headers["Location"] == "/organizer/"
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "nora.new@example.org"))
        assert user.name == "Nora New" and user.password_hash.startswith("$argon2id$")
        assert [(m.organization_id, m.role) for m in user.memberships] == [(organizer["organization_id"], Role.ORGANIZER)]
        assert db.session.scalar(select(Invitation)).accepted_at is not None
    # She is logged in, and on the team.
    assert b"Welcome to the team of" in nora.get("/organizer/settings").data
    assert "Nora New" in organizer_client.get("/organizer/team").data.decode()

    # The link works once.
    again = app.test_client().get(f"/organizer/invitations/{token}")
    assert again.status_code == 410
    assert b"This invitation was already used" in again.data


def test_someone_with_an_account_logs_in_then_accepts(app, organizer_client, organizer, mailbox):
    with app.app_context():
        make_organizer("erin@example.org", name="Erin Existing")
    _invite(organizer_client, organizer, "erin@example.org", "checkin")
    token = invitation_token(_outbox(app, "erin@example.org")[0].text_body)

    erin = app.test_client()
    page = erin.get(f"/organizer/invitations/{token}")
    assert page.status_code == 200
    assert b"You already have an account with this email" in page.data
    assert b"Create account" not in page.data
    # Posting a new account for an existing email does nothing.
    refused = erin.post(f"/organizer/invitations/{token}", data={
        "csrf_token": csrf_from(erin.get("/organizer/login").data), "name": "Mallory", "password": "x" * 12, "confirm_password": "x" * 12})
    assert refused.status_code == 409
    assert _count(app, Membership, Membership.organization_id == organizer["organization_id"]) == 1

    # Log in with the link as `next`: she comes back to the invitation.
    login_page = erin.get(f"/organizer/login?next=/organizer/invitations/{token}")
    back = erin.post("/organizer/login", data={"csrf_token": csrf_from(login_page.data), "email": "erin@example.org",
                                                 "password": "correct horse battery", "next": f"/organizer/invitations/{token}"})
    assert back.headers["Location"] == f"/organizer/invitations/{token}"
    page = erin.get(f"/organizer/invitations/{token}")
    assert b"Accept and join" in page.data
    accepted = erin.post(f"/organizer/invitations/{token}", data={"csrf_token": csrf_from(page.data)})
    assert accepted.status_code == 303
    with app.app_context():
        erin_user = db.session.scalar(select(User).where(User.email == "erin@example.org"))
        roles = {m.organization_id: m.role for m in erin_user.memberships}
        assert roles[organizer["organization_id"]] == Role.CHECKIN
        assert len(roles) == 2  # her own organization stays hers


def test_logged_in_as_someone_else_cannot_accept(app, organizer_client, organizer):
    with app.app_context():
        make_organizer("bystander@example.org")
    _invite(organizer_client, organizer, "invited@example.org")
    token = invitation_token(_outbox(app, "invited@example.org")[0].text_body)
    other = app.test_client()
    login(other, "bystander@example.org")
    page = other.get(f"/organizer/invitations/{token}")
    assert b"but you are logged in as" in page.data and b"bystander@example.org" in page.data
    response = other.post(f"/organizer/invitations/{token}", data={"csrf_token": csrf_from(page.data)})
    assert response.status_code == 409
    with app.app_context():
        assert db.session.scalar(select(Invitation)).accepted_at is None
        assert _count(app, User, User.email == "invited@example.org") == 0


def test_expired_invitation_gets_a_clear_page_and_changes_nothing(app, organizer_client, organizer):
    _invite(organizer_client, organizer, "late@example.org")
    token = invitation_token(_outbox(app, "late@example.org")[0].text_body)
    with app.app_context():
        inv = db.session.scalar(select(Invitation))
        inv.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    client = app.test_client()
    page = client.get(f"/organizer/invitations/{token}")
    assert page.status_code == 410
    assert b"This invitation has expired" in page.data
    login_page = client.get("/organizer/login")
    response = client.post(f"/organizer/invitations/{token}", data={
        "csrf_token": csrf_from(login_page.data), "name": "Late", "password": "a long new passphrase",
        "confirm_password": "a long new passphrase"})
    assert response.status_code == 410
    assert _count(app, User, User.email == "late@example.org") == 0
    # Expired invitations leave the pending list; the owner can invite again.
    assert "late@example.org" not in organizer_client.get("/organizer/team").data.decode().split("Pending invitations")[1]
    assert _invite(organizer_client, organizer, "late@example.org").status_code == 303


def test_tampered_link_is_not_valid(app, organizer_client, organizer):
    _invite(organizer_client, organizer, "tamper@example.org")
    token = invitation_token(_outbox(app, "tamper@example.org")[0].text_body)
    swapped = ("3" if token[-1] != "3" else "4")
    for bad in (token[:-1] + swapped, token[:-1], token.lower(), "x" * 200):
        page = app.test_client().get(f"/organizer/invitations/{bad}")
        assert page.status_code == 404, bad
        assert b"This invitation link is not valid" in page.data
    nul = app.test_client().get("/organizer/invitations/%00")  # refused before any lookup (core/web.py)
    assert nul.status_code == 404 and b"We could not find that page." in nul.data
    assert _count(app, Invitation, Invitation.accepted_at.is_not(None)) == 0


def test_owner_withdraws_and_resends_invitations(app, organizer_client, organizer, mailbox):
    _invite(organizer_client, organizer, "wendy@example.org")
    first = invitation_token(_outbox(app, "wendy@example.org")[0].text_body)
    with app.app_context():
        first_id = db.session.scalar(select(Invitation.id))

    team = organizer_client.get("/organizer/team")
    assert b"wendy@example.org" in team.data and b"Resend" in team.data
    resent = organizer_client.post(f"/organizer/team/invitations/{first_id}/resend", data={"csrf_token": csrf_from(team.data)})
    assert resent.status_code == 303
    messages = _outbox(app, "wendy@example.org")
    assert len(messages) == 2
    second = invitation_token(messages[1].text_body)
    assert second != first
    assert app.test_client().get(f"/organizer/invitations/{first}").status_code == 410
    assert app.test_client().get(f"/organizer/invitations/{second}").status_code == 200
    _deliver(app)
    assert [invitation_token(m.message.get_body(("plain",)).get_content()) for m in mailbox.to("wendy@example.org")] == [first, second]

    with app.app_context():
        second_id = db.session.scalar(select(Invitation.id).where(Invitation.id != first_id))
    team = organizer_client.get("/organizer/team")
    withdrawn = organizer_client.post(f"/organizer/team/invitations/{second_id}/revoke", data={"csrf_token": csrf_from(team.data)})
    assert withdrawn.status_code == 303
    page = app.test_client().get(f"/organizer/invitations/{second}")
    assert page.status_code == 410 and b"This invitation was withdrawn" in page.data
    assert "wendy@example.org" not in organizer_client.get("/organizer/team").data.decode().split("Pending invitations")[1]


def test_invite_form_errors_are_shown_next_to_the_field(app, organizer_client, organizer):
    bad = _invite(organizer_client, organizer, "not-an-email")
    assert bad.status_code == 422
    html = bad.data.decode()
    assert f'id="invite-{organizer["organization_id"]}-email-error"' in html
    assert "Enter a valid email address" in html
    member = _invite(organizer_client, organizer, organizer["email"])
    assert member.status_code == 422 and b"is already on this team" in member.data
    _invite(organizer_client, organizer, "twice@example.org")
    twice = _invite(organizer_client, organizer, "twice@example.org")
    assert twice.status_code == 422 and b"already has a pending invitation" in twice.data
    assert _count(app, Invitation) == 1 and _count(app, OutboxMessage) == 1


def test_only_owners_invite(app, organizer):
    with app.app_context():
        make_member(organizer["organization_id"], Role.ORGANIZER, "otto@example.org")
    otto = app.test_client()
    login(otto, "otto@example.org")
    page = otto.get("/organizer/team")
    response = otto.post(f"/organizer/team/{organizer['organization_id']}/invite",
                         data={"csrf_token": csrf_from(page.data), "email": "friend@example.org", "role": "owner"})
    assert response.status_code == 403
    assert _count(app, Invitation) == 0 and _count(app, OutboxMessage) == 0


def test_invitation_is_claimed_once_even_by_two_browsers(app, organizer_client, organizer):
    with app.app_context():
        make_organizer("twin@example.org")
    _invite(organizer_client, organizer, "twin@example.org")
    token = invitation_token(_outbox(app, "twin@example.org")[0].text_body)
    a, b = app.test_client(), app.test_client()
    login(a, "twin@example.org")
    login(b, "twin@example.org")
    page_a, page_b = a.get(f"/organizer/invitations/{token}"), b.get(f"/organizer/invitations/{token}")
    assert a.post(f"/organizer/invitations/{token}", data={"csrf_token": csrf_from(page_a.data)}).status_code == 303
    second = b.post(f"/organizer/invitations/{token}", data={"csrf_token": csrf_from(page_b.data)})
    assert second.status_code == 410
    assert _count(app, Membership, Membership.organization_id == organizer["organization_id"]) == 2
