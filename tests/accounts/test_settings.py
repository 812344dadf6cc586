"""The settings page: her details, her password (which ends her other sessions) and API tokens."""
from __future__ import annotations

import re

from sqlalchemy import select

from eventsite.accounts.models import ApiToken, User
from eventsite.core.security import hash_token
from eventsite.extensions import db
from tests.conftest import csrf_from, login, post_form

TOKEN_RE = re.compile(r'id="new-token"[^>]*value="(evs_[A-Za-z0-9_-]+)"')


def _user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def test_settings_page_shows_her_name_and_email(organizer_client, organizer):
    page = organizer_client.get("/organizer/settings")
    assert page.status_code == 200
    html = page.data.decode()
    assert 'value="Olivia Owner"' in html and f'value="{organizer["email"]}"' in html
    for label in ("Your name", "Email", "Current password", "New password", "New password again", "Token name"):
        assert f">{label}</label>" in html, label
    assert "You have no API tokens." in html


def test_change_name(app, organizer_client, organizer):
    response = post_form(organizer_client, "/organizer/settings/profile",
                         {"name": "Olivia O. Owner", "email": organizer["email"]}, form_url="/organizer/settings")
    assert response.status_code == 303
    assert _user(app, organizer["id"]).name == "Olivia O. Owner"
    assert b"Your details are saved." in organizer_client.get("/organizer/settings").data


def test_changing_email_needs_the_current_password(app, organizer_client, organizer):
    refused = post_form(organizer_client, "/organizer/settings/profile",
                        {"name": "Olivia", "email": "olivia@example.org"}, form_url="/organizer/settings")
    assert refused.status_code == 422
    assert b"Enter your current password to change your email." in refused.data
    assert _user(app, organizer["id"]).email == organizer["email"]

    ok = post_form(organizer_client, "/organizer/settings/profile",
                   {"name": "Olivia", "email": "Olivia@Example.org", "current_password": organizer["password"]},
                   form_url="/organizer/settings")
    assert ok.status_code == 303
    assert _user(app, organizer["id"]).email == "olivia@example.org"


def test_wrong_current_password_is_refused(app, organizer_client, organizer):
    before = _user(app, organizer["id"]).password_hash
    response = post_form(organizer_client, "/organizer/settings/password", {
        "current_password": "not my password", "new_password": "a brand new passphrase",
        "confirm_password": "a brand new passphrase"}, form_url="/organizer/settings")
    assert response.status_code == 422
    html = response.data.decode()
    assert 'id="password-current_password-error"' in html and "That is not your current password." in html
    assert _user(app, organizer["id"]).password_hash == before


def test_new_passwords_must_match_and_be_long_enough(organizer_client):
    short = post_form(organizer_client, "/organizer/settings/password", {
        "current_password": "correct horse battery", "new_password": "short", "confirm_password": "short"},
        form_url="/organizer/settings")
    assert short.status_code == 422 and b"Use at least 10 characters." in short.data
    differ = post_form(organizer_client, "/organizer/settings/password", {
        "current_password": "correct horse battery", "new_password": "a brand new passphrase",
        "confirm_password": "a brand new passphrasE"}, form_url="/organizer/settings")
    assert differ.status_code == 422 and b"The two passwords differ." in differ.data


def test_password_change_ends_other_sessions_but_not_hers(app, organizer, organizer_client):
    other_device = app.test_client()
    login(other_device, organizer["email"], organizer["password"])
    assert other_device.get("/organizer/settings").status_code == 200
    before = _user(app, organizer["id"]).password_changed_at

    response = post_form(organizer_client, "/organizer/settings/password", {
        "current_password": organizer["password"], "new_password": "a brand new passphrase",
        "confirm_password": "a brand new passphrase"}, form_url="/organizer/settings")
    assert response.status_code == 303

    user = _user(app, organizer["id"])
    assert user.password_changed_at > before
    assert user.password_hash.startswith("$argon2id$")
    # She stays logged in here...
    page = organizer_client.get("/organizer/settings")
    assert page.status_code == 200 and b"Your password is changed." in page.data
    # ...the other device is logged out,
    assert other_device.get("/organizer/settings").status_code == 302
    # the old password no longer works and the new one does.
    fresh = app.test_client()
    old = post_form(fresh, "/organizer/login", {"email": organizer["email"], "password": organizer["password"]})
    assert old.status_code == 401
    login(fresh, organizer["email"], "a brand new passphrase")


def test_create_list_and_revoke_an_api_token(app, organizer_client, organizer):
    created = post_form(organizer_client, "/organizer/settings/tokens", {"token_name": "Website sync"},
                        form_url="/organizer/settings")
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    assert b"this is the only time it is shown" in created.data
    plaintext = TOKEN_RE.search(created.data.decode()).group(1)

    with app.app_context():
        token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == organizer["id"]))
        assert token.name == "Website sync"
        assert token.token_hash == hash_token(plaintext)
        assert plaintext not in (token.token_hash, token.prefix, token.name)
        token_id, prefix = token.id, token.prefix
    assert plaintext.startswith(prefix)

    # Shown once: the settings page lists it by name and prefix, never the whole token.
    settings = organizer_client.get("/organizer/settings").data.decode()
    assert "Website sync" in settings and f"{prefix}…" in settings and plaintext not in settings
    assert "Never" in settings  # not used yet

    api = app.test_client()
    bearer = {"Authorization": f"Bearer {plaintext}"}
    assert api.get("/api/v1/events", headers=bearer).status_code == 200
    assert "Never" not in organizer_client.get("/organizer/settings").data.decode().split("API tokens")[1].split("New token")[0]

    # The confirmation page changes nothing; the POST revokes.
    confirm = organizer_client.get(f"/organizer/settings/tokens/{token_id}/revoke")
    assert confirm.status_code == 200 and b"Revoke the token" in confirm.data
    assert api.get("/api/v1/events", headers=bearer).status_code == 200
    revoked = organizer_client.post(f"/organizer/settings/tokens/{token_id}/revoke",
                                    data={"csrf_token": csrf_from(confirm.data)})
    assert revoked.status_code == 303

    response = api.get("/api/v1/events", headers=bearer)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert api.post("/api/v1/events", json={"title": "x"}, headers=bearer).status_code == 401
    assert api.get("/api/v1/openapi.json").status_code == 200  # the description stays public
    after = organizer_client.get("/organizer/settings").data.decode()
    assert "The token “Website sync” is revoked" in after
    assert "You have no API tokens." in after and f"{prefix}…" not in after
    with app.app_context():
        assert db.session.get(ApiToken, token_id).revoked_at is not None


def test_token_name_is_required(organizer_client):
    response = post_form(organizer_client, "/organizer/settings/tokens", {"token_name": "  "},
                         form_url="/organizer/settings")
    assert response.status_code == 422
    assert 'id="token-token_name-error"' in response.data.decode()
    assert b"Give the token a name." in response.data


def test_someone_elses_token_cannot_be_revoked(app, organizer_client):
    from eventsite.accounts.services import create_api_token
    from tests.factories import make_organizer

    with app.app_context():
        other = make_organizer("other@example.org")
        token, plaintext = create_api_token(other, "Theirs")
        db.session.commit()
        token_id = token.id
    assert organizer_client.get(f"/organizer/settings/tokens/{token_id}/revoke").status_code == 404
    page = organizer_client.get("/organizer/settings")
    response = organizer_client.post(f"/organizer/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf_from(page.data)})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(ApiToken, token_id).revoked_at is None
    assert app.test_client().get("/api/v1/events", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
