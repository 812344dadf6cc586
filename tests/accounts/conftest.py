"""Fixtures for the accounts tests: a second app with rate limiting on, and small helpers."""
from __future__ import annotations

import re

import pytest

from eventsite.extensions import db

LINK_RE = re.compile(r"http://eventsite\.test/organizer/invitations/([A-Za-z0-9]+)")


@pytest.fixture
def in_app(app):
    """in_app(fn, *args): run fn inside an app context of its own and return its result."""

    def run(fn, *args, **kwargs):
        with app.app_context():
            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()

    return run


def invitation_token(text: str) -> str:
    m = LINK_RE.search(text)
    assert m, f"no invitation link in: {text!r}"
    return m.group(1)
