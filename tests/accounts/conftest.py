"""Fixtures for the accounts tests: a second app with rate limiting on, and small helpers."""
from __future__ import annotations

import re

import pytest

from eventsite import create_app
from eventsite.config import TestConfig
from eventsite.extensions import db, limiter

LINK_RE = re.compile(r"http://eventsite\.test/organizer/invitations/([A-Za-z0-9]+)")


@pytest.fixture
def limited_app(app):
    """The app with Flask-Limiter enabled (the suite's app has it off), on the same database.

    The limiter is one object shared by every app; its `enabled` flag is restored afterwards so
    the rest of the suite runs unlimited again.
    """
    settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    settings.update(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        EVENTSITE_MAIL_URL=app.config["EVENTSITE_MAIL_URL"],
        EVENTSITE_BASE_URL=app.config["EVENTSITE_BASE_URL"],
        SECRET_KEY=app.config["SECRET_KEY"],
    )
    was_enabled = limiter.enabled
    limited = create_app(settings)
    try:
        limiter.reset()
        yield limited
    finally:
        limiter.reset()
        limiter.enabled = was_enabled
        with limited.app_context():
            db.session.remove()
            db.engine.dispose()


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
