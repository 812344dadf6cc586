"""Password reset by email: a signed, expiring, single-use link. No table.

The link carries `[issued_at, user_id, fingerprint]`, signed with the app's SECRET_KEY (itsdangerous,
a salt of its own). The fingerprint is an HMAC of her current password hash and the time it last
changed, so the link dies the moment the password changes, whether through this link (it works
once), the settings page or another reset link. The expiry is checked against the `now` the caller
passes (PASSWORD_RESET_MAX_AGE, one hour by default).

Asking for a link answers the same whether or not the email has an account (the view shows one
message); only an active account gets an email. Setting the new password is one conditional
UPDATE on the hash the link was made for, so two tabs using the same link cannot both succeed.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from flask import current_app, render_template
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import update

from eventsite.accounts.models import User
from eventsite.accounts.services import check_email, find_user_by_email, hash_password, validate_password
from eventsite.core.db import utcnow
from eventsite.core.errors import DomainError, ValidationError
from eventsite.core.mail import enqueue_email
from eventsite.core.security import tokens_equal
from eventsite.extensions import db

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SALT = "eventsite.accounts.password-reset"


class ResetLinkError(DomainError):
    """A reset link that cannot be used: code is invalid (404), expired or used (410)."""

    status = 410
    MESSAGES = {
        "invalid": "This password reset link is not valid. Check that you opened the whole link from the email.",
        "expired": "This password reset link has expired. Ask for a new one below.",
        "used": "This password reset link was already used, or your password changed since it was sent. "
                "Ask for a new one if you still need it.",
    }

    def __init__(self, code: str):
        super().__init__(self.MESSAGES[code], code)
        if code == "invalid":
            self.status = 404


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def max_age() -> timedelta:
    return current_app.config.get("PASSWORD_RESET_MAX_AGE") or timedelta(hours=1)


def fingerprint(user: User) -> str:
    """Changes whenever her password does; reveals nothing of the hash (keyed HMAC, truncated)."""
    material = f"{user.password_hash}|{user.session_marker}".encode()
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, material, hashlib.sha256).hexdigest()[:32]


def make_reset_token(user: User, *, now: datetime | None = None) -> str:
    issued = int(((now or utcnow()) - _EPOCH).total_seconds())
    return _serializer().dumps([issued, user.id, fingerprint(user)])


def reset_link(token: str) -> str:
    return f"{current_app.config['EVENTSITE_BASE_URL']}/organizer/password/reset/{token}"


def request_password_reset(email: str, *, now: datetime | None = None) -> bool:
    """Queue a reset email if `email` belongs to an active account. The caller shows the same
    answer either way; the return value (True when an email was queued) is for tests only.
    An address that is not an email at all is a ValidationError (that reveals nothing)."""
    now = now or utcnow()
    user = find_user_by_email(check_email(email))
    if user is None or not user.active:
        return False
    token = make_reset_token(user, now=now)
    context = {"user": user, "link": reset_link(token), "minutes": int(max_age().total_seconds() // 60)}
    enqueue_email(
        key=f"password-reset:{user.id}:{int((now - _EPOCH).total_seconds())}",
        to=user.email,
        subject="Reset your eventsite password",
        text=render_template("accounts/email/password_reset.txt", **context),
        html=render_template("accounts/email/password_reset.html", **context),
    )
    return True


def user_for_reset_token(token: object, *, now: datetime | None = None) -> User:
    """The user a usable reset link belongs to, or ResetLinkError (invalid, expired, used)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 300:
        raise ResetLinkError("invalid")
    try:
        data = _serializer().loads(token)
    except (BadData, ValueError, TypeError, UnicodeError):
        raise ResetLinkError("invalid") from None
    if (not isinstance(data, list) or len(data) != 3
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in data[:2])
            or not isinstance(data[2], str)):
        raise ResetLinkError("invalid")
    issued, user_id, mark = data
    if (now or utcnow()) - (_EPOCH + timedelta(seconds=issued)) > max_age():
        raise ResetLinkError("expired")
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise ResetLinkError("invalid")
    if not tokens_equal(fingerprint(user), mark):
        raise ResetLinkError("used")
    return user


def reset_password(token: str, new_password: str, *, now: datetime | None = None) -> User:
    """Set her new password through a reset link, once. Every session of hers ends (the session
    identifiers carry the time the password changed)."""
    now = now or utcnow()
    user = user_for_reset_token(token, now=now)
    try:
        validate_password(new_password)
    except ValidationError as e:
        raise ValidationError({"new_password": e.errors["password"]}) from e
    old_hash = user.password_hash
    changed_at = max(now, user.password_changed_at + timedelta(microseconds=1))
    claimed = db.session.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == old_hash)
        .values(password_hash=hash_password(new_password), password_changed_at=changed_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise ResetLinkError("used")
    db.session.refresh(user)
    return user
