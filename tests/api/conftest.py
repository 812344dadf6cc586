"""Fixtures for the organizer API: an organizer with a token, and a client that sends it."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from eventsite.accounts.services import create_api_token
from eventsite.extensions import db
from tests.factories import make_organizer


@dataclass
class ApiClient:
    """The Flask test client with `Authorization: Bearer <token>` on every request."""

    client: object
    token: str

    def _headers(self, headers: dict | None) -> dict:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path: str, **kw):
        return self.client.get(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, path: str, json=None, **kw):
        return self.client.post(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def patch(self, path: str, json=None, **kw):
        return self.client.patch(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)


def issue_token(user) -> str:
    _, plaintext = create_api_token(user, "tests")
    db.session.commit()
    return plaintext


@pytest.fixture
def owner(app):
    """An organizer who owns one organization, and an API token of hers."""
    with app.app_context():
        user = make_organizer("ada@example.org", name="Ada Api")
        info = {"id": user.id, "email": user.email, "organization_id": user.memberships[0].organization_id,
                "organization_slug": user.memberships[0].organization.slug, "token": issue_token(user)}
        db.session.remove()
    return info


@pytest.fixture
def api(app, owner) -> ApiClient:
    return ApiClient(app.test_client(), owner["token"])


def event_body(**overrides) -> dict:
    """A valid POST /api/v1/events body, in Berlin time."""
    body = {
        "title": "Women in Leadership Breakfast",
        "starts_at": "2027-03-08T08:30:00+01:00",
        "ends_at": "2027-03-08T11:00:00+01:00",
        "timezone": "Europe/Berlin",
        "venue": "Kulturhaus Mitte",
        "status": "draft",
    }
    body.update(overrides)
    return body


@pytest.fixture
def dbq(app):
    """dbq(fn): run fn in an app context of its own (never shared with a request) and return its
    result; ORM objects come back detached with their loaded attributes."""

    def run(fn, *args, **kwargs):
        with app.app_context():
            return fn(*args, **kwargs)

    return run
