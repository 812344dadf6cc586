"""flask create-organizer and create-api-token."""
from __future__ import annotations

import re

from sqlalchemy import select

from eventsite.accounts.models import ApiToken, Role, User
from eventsite.core.security import hash_token
from eventsite.extensions import db
from tests.conftest import login


def test_create_organizer_makes_an_owner_who_can_log_in(app, runner, client):
    result = runner.invoke(args=["create-organizer", "cli@example.org", "--password", "a long cli passphrase",
                                 "--name", "Cleo Cli"])
    assert result.exit_code == 0, result.output
    assert "Created organizer cli@example.org." in result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "cli@example.org"))
        assert user.name == "Cleo Cli" and [m.role for m in user.memberships] == [Role.OWNER]
    login(client, "cli@example.org", "a long cli passphrase")


def test_create_organizer_refuses_a_short_password(runner):
    result = runner.invoke(args=["create-organizer", "short@example.org", "--password", "short"])
    assert result.exit_code != 0
    assert "Use at least 10 characters." in result.output


def test_create_api_token_prints_only_a_working_token(app, runner, organizer):
    result = runner.invoke(args=["create-api-token", organizer["email"], "--name", "Zapier"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert result.output == token + "\n"  # one line: the token and nothing else
    assert re.fullmatch(r"evs_[A-Za-z0-9_-]{40,}", token)
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert row.name == "Zapier" and row.user_id == organizer["id"] and row.token_hash == hash_token(token)
    response = app.test_client().get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_create_api_token_default_name_and_unknown_email(app, runner, organizer):
    ok = runner.invoke(args=["create-api-token", organizer["email"].upper()])
    assert ok.exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(ApiToken.name)) == "API token"
    missing = runner.invoke(args=["create-api-token", "nobody@example.org"])
    assert missing.exit_code != 0
    assert "No active account with the email nobody@example.org." in missing.output
    with app.app_context():
        assert len(db.session.scalars(select(ApiToken)).all()) == 1
