"""Accounts rules: users, organizations, memberships. The actor is always an argument."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import func, select

from eventsite.accounts.models import Membership, Organization, Role, User
from eventsite.core.errors import ValidationError
from eventsite.core.text import slugify
from eventsite.extensions import db

MIN_PASSWORD_LENGTH = 10


def _hasher() -> PasswordHasher:
    return PasswordHasher(**current_app.config["PASSWORD_HASH_PARAMS"])


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(user: User | None, password: str) -> bool:
    """Constant work whether or not the user exists, so timing does not reveal accounts."""
    hasher = _hasher()
    if user is None:
        try:
            hasher.verify(_dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return True


_DUMMY: dict[str, str] = {}


def _dummy_hash() -> str:
    key = repr(current_app.config["PASSWORD_HASH_PARAMS"])
    if key not in _DUMMY:
        _DUMMY[key] = _hasher().hash("not-a-real-password")
    return _DUMMY[key]


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def validate_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationError({"password": f"Use at least {MIN_PASSWORD_LENGTH} characters."})
    if len(password) > 1024:
        raise ValidationError({"password": "That password is too long."})


def create_user(email: str, password: str, *, name: str = "") -> User:
    email = normalize_email(email)
    if find_user_by_email(email) is not None:
        raise ValidationError({"email": "An account with this email already exists."}, code="email_taken")
    validate_password(password)
    user = User(email=email, name=name.strip(), password_hash=hash_password(password))
    db.session.add(user)
    db.session.flush()
    return user


def unique_org_slug(name: str) -> str:
    base = slugify(name, 60) or "org"
    slug, n = base, 1
    while db.session.scalar(select(func.count()).select_from(Organization).where(Organization.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_organization(name: str, *, owner: User) -> Organization:
    org = Organization(name=name.strip(), slug=unique_org_slug(name))
    db.session.add(org)
    db.session.flush()
    add_member(org, owner, Role.OWNER)
    return org


def add_member(org: Organization, user: User, role: Role) -> Membership:
    membership = db.session.scalar(
        select(Membership).where(Membership.organization_id == org.id, Membership.user_id == user.id)
    )
    if membership is None:
        membership = Membership(organization=org, user=user, role=role)
        db.session.add(membership)
    else:
        membership.role = role
    db.session.flush()
    return membership


def create_organizer(email: str, password: str, *, name: str = "", organization_name: str | None = None) -> User:
    """An organizer account with an organization of her own, which she owns."""
    user = create_user(email, password, name=name)
    create_organization(organization_name or (f"{name}'s events" if name else email.split("@")[0]), owner=user)
    return user


# --- API tokens --------------------------------------------------------------------------------

API_TOKEN_PREFIX = "evs_"


def create_api_token(user: User, name: str = "API token") -> tuple["ApiToken", str]:
    """A new bearer token for `user`. Returns (row, plaintext); the plaintext is shown once, never stored."""
    import secrets as _secrets

    from eventsite.accounts.models import ApiToken
    from eventsite.core.security import hash_token

    name = (name or "").strip() or "API token"
    if len(name) > 100:
        raise ValidationError({"name": "Use at most 100 characters."})
    plaintext = API_TOKEN_PREFIX + _secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, token_hash=hash_token(plaintext), prefix=plaintext[:10])
    db.session.add(token)
    db.session.flush()
    return token, plaintext


def revoke_api_token(token: "ApiToken", *, actor: User) -> None:
    from eventsite.core.errors import NotFoundError
    from eventsite.core.db import utcnow

    if token.user_id != actor.id:
        raise NotFoundError("No such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()


def user_for_api_token(plaintext: str) -> User | None:
    """The active user a live token belongs to, or None. Looked up by hash (constant-time by design)."""
    from eventsite.accounts.models import ApiToken
    from eventsite.core.db import utcnow
    from eventsite.core.security import hash_token

    if not plaintext or len(plaintext) > 200:
        return None
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(plaintext), ApiToken.revoked_at.is_(None))
    )
    if token is None or not token.user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now  # committed with the request's own work, or on its own below
        db.session.commit()
    return token.user
