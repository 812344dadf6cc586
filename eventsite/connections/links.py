"""Signed, expiring links for the emails of this domain (introductions, feedback, preferences,
unsubscribe).

Why signed links (itsdangerous, keyed with the app's SECRET_KEY and a salt per purpose) rather than
random tokens stored hashed: a follow-up round writes thousands of emails, each with three to eight
links; signing needs no row per link and no write at all, and a link of one purpose can never be used
for another (the salt differs). What a stored token would give, revocation, comes from the profile's
`link_key`, which every link carries: a deleted profile (or a changed key) makes all her links
invalid, and a new profile that happens to reuse a deleted row's id (SQLite can) does not inherit
them.

The payload is `[issued_at, *ids, link_key]`, issued_at in whole seconds since the epoch; the expiry
is checked here against the `now` the caller passes (the services' clock, which tests freeze), not
against the wall clock. A tampered link fails the signature (`LinkInvalidError`, 404), an old one
`LinkExpiredError` (410). Replaying a valid link is harmless by construction: every POST behind a
link is idempotent on the state it finds (asking twice, accepting twice, unsubscribing twice).
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer

from eventsite.core.db import utcnow
from eventsite.core.errors import DomainError

# purpose -> how long a link lives (config CONNECTIONS_LINK_DAYS may override, per purpose)
LINK_DAYS = {
    "introduce": 45,  # "I'd like an introduction" in a follow-up email
    "accept": 21,  # the request itself lapses after 14 days (a clearer page than "expired")
    "feedback": 180,  # "did you meet?" in the later emails
    "preferences": 730,
    "unsubscribe": 730,  # RFC 8058 links must keep working for a long time
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LinkInvalidError(DomainError):
    code = "link_invalid"
    status = 404

    def __init__(self, message: str = "This link is not valid. Check that you opened the whole link "
                                      "from the email; some email programs break long links in two."):
        super().__init__(message)


class LinkExpiredError(DomainError):
    code = "link_expired"
    status = 410

    def __init__(self, message: str = "This link has expired."):
        super().__init__(message)


def _serializer(purpose: str) -> URLSafeSerializer:
    if purpose not in LINK_DAYS:
        raise ValueError(f"unknown link purpose {purpose!r}")
    return _serializer_for(current_app.config["SECRET_KEY"], purpose)


@lru_cache(maxsize=64)
def _serializer_for(secret_key: str | bytes, purpose: str) -> URLSafeSerializer:
    # One per key and purpose: a follow-up round signs tens of thousands of links (stateless, thread-safe).
    return URLSafeSerializer(secret_key, salt=f"eventsite.connections.{purpose}")


def max_age(purpose: str) -> timedelta:
    overrides = current_app.config.get("CONNECTIONS_LINK_DAYS") or {}
    return timedelta(days=int(overrides.get(purpose, LINK_DAYS[purpose])))


def make_token(purpose: str, *ids: int, key: str, now: datetime | None = None) -> str:
    """A link token for `purpose` naming `ids`, bound to the profile's `link_key`."""
    issued = int(((now or utcnow()) - _EPOCH).total_seconds())
    return _serializer(purpose).dumps([issued, *[int(i) for i in ids], key])


def read_token(purpose: str, token: object, *, now: datetime | None = None, count: int = 1) -> tuple[list[int], str]:
    """(ids, link_key) of a valid token with `count` ids; raises LinkInvalidError or LinkExpiredError."""
    if not isinstance(token, str) or not 10 <= len(token) <= 400:
        raise LinkInvalidError()
    try:
        data = _serializer(purpose).loads(token)
    except (BadData, ValueError, TypeError, UnicodeError):
        raise LinkInvalidError() from None
    if (
        not isinstance(data, list) or len(data) != count + 2
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in data[:-1])
        or not isinstance(data[-1], str)
    ):
        raise LinkInvalidError()
    issued = _EPOCH + timedelta(seconds=data[0])
    now = now or utcnow()
    if now - issued > max_age(purpose):
        raise LinkExpiredError()
    return data[1:-1], data[-1]
