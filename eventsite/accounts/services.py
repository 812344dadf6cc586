"""Accounts rules: users, organizations, memberships. The actor is always an argument."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload

from eventsite.accounts.models import ApiToken, Membership, Organization, Role, User
from eventsite.core.db import utcnow
from eventsite.core.errors import DomainError, NotFoundError, ValidationError
from eventsite.core.security import tokens_equal
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
    email = normalize_email(email)
    if "\x00" in email:  # no account has one, and PostgreSQL cannot compare it (was a 500 at login)
        return None
    return db.session.scalar(select(User).where(User.email == email))


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
    from eventsite.core.db import utcnow
    from eventsite.core.errors import NotFoundError

    if token.user_id != actor.id:
        raise NotFoundError("No such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()


# The live token with a hash, its user and her memberships in one round trip: every API route then
# asks `User.membership_in` (through `events.access.event_for`), which would otherwise cost two more
# statements (the user, then her memberships). Built once per process.
_TOKEN_STATEMENT = (
    select(ApiToken)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
    .options(joinedload(ApiToken.user).joinedload(User.memberships))
)


def user_for_api_token(plaintext: str) -> User | None:
    """The active user a live token belongs to, or None. Looked up by hash (constant-time by design)."""
    from eventsite.core.security import hash_token

    if not plaintext or len(plaintext) > 200:
        return None
    found = db.session.execute(_TOKEN_STATEMENT, {"token_hash": hash_token(plaintext)})
    token = found.unique().scalar_one_or_none()  # unique(): one row per membership
    if token is None or not token.user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now  # committed with the request's own work, or on its own below
        db.session.commit()
    return token.user


# --- login and sessions ------------------------------------------------------------------------

class InvalidCredentialsError(DomainError):
    """One message for every bad credential, so the form never tells which accounts exist."""

    code = "invalid_credentials"
    status = 401

    def __init__(self) -> None:
        super().__init__("Email or password is incorrect.")


def authenticate(email: str, password: str) -> User:
    """The active user with this email and password, or InvalidCredentialsError.

    The password is checked with the same work whether or not the account exists (see
    verify_password), and an inactive account gets the same answer as a wrong password.
    """
    user = find_user_by_email(email) if len(email or "") <= 254 else None
    if not verify_password(user, password or "") or user is None or not user.active:
        raise InvalidCredentialsError()
    return user


def user_for_session(session_id: str | None) -> User | None:
    """The user a session identifier (User.get_id(): `<id>:<password marker>`) still belongs to.

    A session made before the last password change, or of a deactivated user, gets None.
    """
    user_id, _, marker = (session_id or "").partition(":")
    if not (user_id.isdigit() and marker.isdigit()) or len(session_id) > 64:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or not tokens_equal(str(user.session_marker), str(int(marker))):
        return None
    return user


# --- her own account ---------------------------------------------------------------------------

def change_password(user: User, current_password: str, new_password: str) -> None:
    """Set a new password after checking the current one. Ends every other session of hers
    (their identifiers carry the old password_changed_at)."""
    if not verify_password(user, current_password or ""):
        raise ValidationError({"current_password": "That is not your current password."}, code="wrong_password")
    try:
        validate_password(new_password)
    except ValidationError as e:
        raise ValidationError({"new_password": e.errors["password"]}) from e
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    db.session.flush()


def update_profile(user: User, *, name: str, email: str, current_password: str = "") -> User:
    """Change her name, and her email when she confirms it with her current password."""
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Enter your name."
    elif len(name) > 200:
        errors["name"] = "Use at most 200 characters."
    new_email = normalize_email(email)
    if new_email != user.email:
        try:
            new_email = check_email(new_email)
        except ValidationError as e:
            errors.update(e.errors)
        else:
            if not verify_password(user, current_password or ""):
                errors["current_password"] = "Enter your current password to change your email."
            elif find_user_by_email(new_email) is not None:
                errors["email"] = "Another account already uses this email."
    if errors:
        raise ValidationError(errors)
    user.name = name
    user.email = new_email
    db.session.flush()
    return user


def check_email(email: str) -> str:
    """A syntactically valid email address, normalized (lower case), or ValidationError."""
    from email_validator import EmailNotValidError, validate_email

    email = normalize_email(email)
    if not email:
        raise ValidationError({"email": "Enter an email address."})
    try:
        result = validate_email(email, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise ValidationError({"email": "Enter a valid email address, like name@example.org "
                                        "(letters before the @ without accents)."}) from None
    email = (result.ascii_email or email).lower()
    if len(email) > 254:
        raise ValidationError({"email": "That email address is too long."})
    return email


# --- her API tokens ----------------------------------------------------------------------------

def api_tokens_for(user: User) -> list[ApiToken]:
    """Her live tokens, newest first."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def api_token_of(user: User, token_id: int) -> ApiToken:
    """One of her live tokens; someone else's (or a revoked one) is NotFoundError."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        raise NotFoundError("No such token.")
    return token


def revoke_api_token_by_id(token_id: int, *, actor: User) -> ApiToken:
    token = api_token_of(actor, token_id)
    revoke_api_token(token, actor=actor)
    return token
