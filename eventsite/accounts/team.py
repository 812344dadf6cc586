"""Team rules: members and roles of an organization, and invitations by email link.

Only owners change a team. Someone outside an organization gets NotFoundError for anything in it
(its existence is not revealed); a member whose role is not enough gets PermissionDeniedError.
The actor is always an argument; functions flush, the caller commits once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import current_app, render_template
from sqlalchemy import select, update

from eventsite.accounts.models import Invitation, Membership, Organization, Role, User
from eventsite.accounts.services import (
    check_email,
    create_user,
    find_user_by_email,
    normalize_email,
    validate_password,
)
from eventsite.core.db import utcnow
from eventsite.core.errors import (
    ConflictError,
    DomainError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from eventsite.core.mail import enqueue_email
from eventsite.core.security import TOKEN_ALPHABET, hash_token, random_token
from eventsite.extensions import db

ROLE_ORDER = {Role.OWNER: 0, Role.ORGANIZER: 1, Role.CHECKIN: 2}
_TOKEN_RE = re.compile(f"^[{TOKEN_ALPHABET}]{{16,64}}$")


class InvitationError(DomainError):
    """An invitation link that cannot be used: code is invalid, expired, used or revoked."""

    status = 410
    MESSAGES = {
        "invalid": "This invitation link is not valid. Check that you copied the whole link from the email.",
        "expired": "This invitation has expired. Ask the person who invited you to send a new one.",
        "used": "This invitation has already been used. If it was you, log in with your email and password.",
        "revoked": "This invitation was withdrawn. Ask the person who invited you if you think that is a mistake.",
    }

    def __init__(self, code: str):
        super().__init__(self.MESSAGES[code], code)
        if code == "invalid":
            self.status = 404


# --- reading a team ----------------------------------------------------------------------------

@dataclass
class OrganizationTeam:
    organization: Organization
    my_role: Role
    members: list[Membership] = field(default_factory=list)
    invitations: list[Invitation] = field(default_factory=list)  # pending only

    @property
    def is_owner(self) -> bool:
        return self.my_role == Role.OWNER


def team_overview(user: User) -> list[OrganizationTeam]:
    """Every organization she helps run, with its members and (for owners) pending invitations.

    Door staff (check-in role) see no member list: names and emails of the team are not theirs to see.
    """
    teams = []
    now = utcnow()
    for mine in sorted(user.memberships, key=lambda m: m.organization.name.lower()):
        if mine.role == Role.CHECKIN:
            continue
        members = db.session.scalars(
            select(Membership).join(User).where(Membership.organization_id == mine.organization_id)
        ).all()
        members = sorted(members, key=lambda m: (ROLE_ORDER[m.role], m.user.display_name.lower()))
        team = OrganizationTeam(mine.organization, mine.role, members)
        if team.is_owner:
            team.invitations = [
                inv
                for inv in db.session.scalars(
                    select(Invitation)
                    .where(Invitation.organization_id == mine.organization_id)
                    .where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
                    .order_by(Invitation.created_at.desc(), Invitation.id.desc())
                )
                if inv.expires_at > now
            ]
        teams.append(team)
    return teams


def _require_owner(actor: User, organization_id: int) -> Membership:
    mine = actor.membership_in(organization_id) if actor is not None else None
    if mine is None:
        raise NotFoundError("No such team.")
    if mine.role != Role.OWNER:
        raise PermissionDeniedError("Only an owner of this organization can change its team.")
    return mine


def managed_membership(membership_id: int, *, actor: User) -> Membership:
    """A membership in an organization `actor` owns."""
    membership = db.session.get(Membership, membership_id)
    if membership is None:
        raise NotFoundError("No such team member.")
    _require_owner(actor, membership.organization_id)
    return membership


def managed_invitation(invitation_id: int, *, actor: User) -> Invitation:
    """An invitation of an organization `actor` owns."""
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None:
        raise NotFoundError("No such invitation.")
    _require_owner(actor, invitation.organization_id)
    return invitation


def managed_organization(organization_id: int, *, actor: User) -> Organization:
    """An organization `actor` owns."""
    _require_owner(actor, organization_id)
    return db.session.get(Organization, organization_id)


# --- roles and members -------------------------------------------------------------------------

def _parse_role(role: Role | str, field_name: str = "role") -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationError({field_name: "Choose owner, organizer or check-in staff."}) from None


def _lock_owners(organization_id: int) -> list[Membership]:
    """The organization's owners, row-locked on PostgreSQL so that two owners demoting or removing
    each other at the same moment cannot leave it without one (SQLite has a single writer)."""
    return list(
        db.session.scalars(
            select(Membership)
            .where(Membership.organization_id == organization_id, Membership.role == Role.OWNER)
            .order_by(Membership.id)
            .with_for_update()
        )
    )


def change_role(membership_id: int, role: Role | str, *, actor: User) -> Membership:
    membership = managed_membership(membership_id, actor=actor)
    role = _parse_role(role)
    if membership.role == Role.OWNER and role != Role.OWNER:
        owners = _lock_owners(membership.organization_id)
        if [m.id for m in owners] == [membership.id]:
            raise ConflictError("An organization needs at least one owner. Make someone else an owner first.", "last_owner")
    membership.role = role
    db.session.flush()
    return membership


def remove_member(membership_id: int, *, actor: User) -> Membership:
    """Take someone off the team (her door assignments go with the membership)."""
    membership = managed_membership(membership_id, actor=actor)
    if membership.role == Role.OWNER:
        owners = _lock_owners(membership.organization_id)
        if [m.id for m in owners] == [membership.id]:
            raise ConflictError("An organization needs at least one owner. Make someone else an owner first.", "last_owner")
    user = membership.user
    db.session.delete(membership)
    db.session.flush()
    db.session.expire(user, ["memberships"])
    return membership


# --- invitations -------------------------------------------------------------------------------

def invitation_link(token: str) -> str:
    return f"{current_app.config['EVENTSITE_BASE_URL']}/organizer/invitations/{token}"


def _queue_invitation_email(invitation: Invitation, token: str) -> None:
    inviter = invitation.invited_by.display_name if invitation.invited_by else "An organizer"
    context = {
        "invitation": invitation,
        "inviter": inviter,
        "organization": invitation.organization,
        "role_label": invitation.role.label,
        "link": invitation_link(token),
        "expires": invitation.expires_at.strftime("%d %B %Y, %H:%M UTC"),
    }
    enqueue_email(
        key=f"invitation:{invitation.id}",
        to=invitation.email,
        subject=f"{inviter} invited you to join {invitation.organization.name} on eventsite",
        text=render_template("accounts/email/invitation.txt", **context),
        html=render_template("accounts/email/invitation.html", **context),
    )


def _issue_invitation(organization: Organization, email: str, role: Role, *, actor: User) -> tuple[Invitation, str]:
    token = random_token()
    invitation = Invitation(
        organization=organization,
        email=email,
        role=role,
        token_hash=hash_token(token),
        invited_by=actor,
        created_at=utcnow(),
        expires_at=utcnow() + current_app.config["INVITATION_MAX_AGE"],
    )
    db.session.add(invitation)
    db.session.flush()
    _queue_invitation_email(invitation, token)
    return invitation, token


def invite_member(organization_id: int, email: str, role: Role | str, *, actor: User) -> tuple[Invitation, str]:
    """Invite someone by email. Returns (invitation, token); the email with the link is queued in
    the same transaction. Only the token's SHA-256 is stored."""
    organization = managed_organization(organization_id, actor=actor)
    errors: dict[str, str] = {}
    try:
        email = check_email(email)
    except ValidationError as e:
        errors.update(e.errors)
    try:
        role = _parse_role(role)
    except ValidationError as e:
        errors.update(e.errors)
    if errors:
        raise ValidationError(errors)
    existing = find_user_by_email(email)
    if existing is not None and existing.membership_in(organization.id) is not None:
        raise ValidationError({"email": f"{email} is already on this team."}, code="already_member")
    pending = db.session.scalar(
        select(Invitation).where(
            Invitation.organization_id == organization.id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
    )
    if pending is not None:
        raise ValidationError(
            {"email": f"{email} already has a pending invitation. Use “Resend” in the list of pending invitations to send it again."},
            code="already_invited",
        )
    return _issue_invitation(organization, email, role, actor=actor)


def revoke_invitation(invitation_id: int, *, actor: User) -> Invitation:
    invitation = managed_invitation(invitation_id, actor=actor)
    if invitation.accepted_at is not None:
        raise ConflictError("This invitation was already accepted; remove the member instead.", "already_accepted")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        db.session.flush()
    return invitation


def resend_invitation(invitation_id: int, *, actor: User) -> tuple[Invitation, str]:
    """A fresh link (and expiry) for a pending or expired invitation; the old link stops working."""
    old = managed_invitation(invitation_id, actor=actor)
    if old.accepted_at is not None:
        raise ConflictError("This invitation was already accepted.", "already_accepted")
    if old.revoked_at is None:
        old.revoked_at = utcnow()
    return _issue_invitation(old.organization, old.email, old.role, actor=actor)


def invitation_for_token(token: str) -> Invitation:
    """The usable invitation behind a link, or InvitationError (invalid, expired, used, revoked)."""
    token = (token or "").strip()
    invitation = None
    if _TOKEN_RE.match(token):
        invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if invitation is None:
        raise InvitationError("invalid")
    state = invitation.state()
    if state != "pending":
        raise InvitationError({"accepted": "used"}.get(state, state))
    return invitation


def invitation_mode(invitation: Invitation, user: User | None) -> str:
    """What the invitation page offers: `accept` (logged in as the invited email), `wrong_account`
    (logged in as someone else), `login` (the email has an account: log in first) or `signup`."""
    if user is not None:
        return "accept" if normalize_email(user.email) == invitation.email else "wrong_account"
    return "login" if find_user_by_email(invitation.email) is not None else "signup"


def accept_invitation(
    token: str, *, user: User | None = None, name: str = "", password: str = ""
) -> tuple[User, Membership]:
    """Use an invitation once.

    With `user` (logged in as the invited email) she joins the team. Without, a new account is made
    from `name` and `password` for the invited email; if that email already has an account she must
    log in first. The invitation is claimed with one conditional UPDATE, so two clicks never both
    succeed.
    """
    invitation = invitation_for_token(token)
    if user is not None:
        if normalize_email(user.email) != invitation.email:
            raise PermissionDeniedError(
                f"This invitation was sent to {invitation.email}. Log out and open the link again to accept it.",
                "wrong_account",
            )
    elif find_user_by_email(invitation.email) is not None:
        raise ConflictError("You already have an account: log in to accept this invitation.", "login_required")
    else:
        errors: dict[str, str] = {}
        name = (name or "").strip()
        if not name:
            errors["name"] = "Enter your name."
        elif len(name) > 200:
            errors["name"] = "Use at most 200 characters."
        try:
            validate_password(password)
        except ValidationError as e:
            errors.update(e.errors)
        if errors:
            raise ValidationError(errors)

    # Claim first: a second, concurrent acceptance waits for this row and then finds it used
    # (instead of racing to create the same account).
    now = utcnow()
    claimed = db.session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise InvitationError("used")
    db.session.refresh(invitation)
    if user is None:
        user = create_user(invitation.email, password, name=name)

    membership = user.membership_in(invitation.organization_id)
    if membership is None:  # already a member: her role stays as it is
        membership = Membership(organization_id=invitation.organization_id, user=user, role=invitation.role)
        db.session.add(membership)
    db.session.flush()
    return user, membership
