"""The team page (members, roles, the events a door member checks in for, invitations) and
accepting an invitation: routes of the `accounts` blueprint (`views`), which imports this module."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from eventsite.accounts import team
from eventsite.accounts.forms import (
    ROLE_CHOICES,
    ConfirmForm,
    DoorEventsForm,
    InviteForm,
    RoleForm,
    SignupForm,
)
from eventsite.accounts.views import bp, prefix_ids, start_session
from eventsite.core.errors import DomainError, ValidationError
from eventsite.extensions import db

# --- the team ----------------------------------------------------------------------------------

def _invite_form(organization_id: int, form: InviteForm | None = None) -> InviteForm:
    return prefix_ids(form or InviteForm(formdata=None), f"invite-{organization_id}")


def _render_team(status: int = 200, *, error: str | None = None, invite: tuple[int, InviteForm] | None = None):
    teams = team.team_overview(current_user)
    forms = {t.organization.id: _invite_form(t.organization.id) for t in teams if t.is_owner}
    if invite:
        forms[invite[0]] = _invite_form(*invite)
    return render_template("accounts/team.html", teams=teams, invite_forms=forms, error=error,
                           role_choices=ROLE_CHOICES), status


@bp.get("/team")
@login_required
def team_page():
    return _render_team()


@bp.post("/team/<int:organization_id>/invite")
@login_required
def invite(organization_id: int):
    team.managed_organization(organization_id, actor=current_user)
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitation, _ = team.invite_member(organization_id, form.email.data, form.role.data, actor=current_user)
        except ValidationError as e:
            db.session.rollback()
            form.apply_errors(e.errors)
        else:
            db.session.commit()
            flash(f"Invitation sent to {invitation.email}. The link works for "
                  f"{current_app.config['INVITATION_MAX_AGE'].days} days.", "success")
            return redirect(url_for("accounts.team_page"), 303)
    return _render_team(422, invite=(organization_id, form))


@bp.post("/team/members/<int:membership_id>/role")
@login_required
def change_role(membership_id: int):
    membership = team.managed_membership(membership_id, actor=current_user)
    form = RoleForm()
    if not form.validate_on_submit():
        return _render_team(422, error="Choose owner, organizer or check-in staff.")
    try:
        team.change_role(membership.id, form.role.data, actor=current_user)
    except DomainError as e:
        db.session.rollback()
        return _render_team(e.status, error=e.message)
    db.session.commit()
    flash(f"{membership.user.display_name} is now {membership.role.label.lower()}.", "success")
    return redirect(url_for("accounts.team_page"), 303)


@bp.route("/team/members/<int:membership_id>/remove", methods=["GET", "POST"])
@login_required
def remove_member(membership_id: int):
    membership = team.managed_membership(membership_id, actor=current_user)
    form = ConfirmForm()
    if form.validate_on_submit():
        name, team_name = membership.user.display_name, membership.organization.name
        is_me = membership.user_id == current_user.id
        try:
            team.remove_member(membership.id, actor=current_user)
        except DomainError as e:
            db.session.rollback()
            return _render_team(e.status, error=e.message)
        db.session.commit()
        flash(f"{name} is no longer on the team of {team_name}.", "success")
        return redirect(url_for("manage_events.dashboard" if is_me else "accounts.team_page"), 303)
    return render_template("accounts/member_remove.html", membership=membership, form=form)


@bp.route("/team/members/<int:membership_id>/events", methods=["GET", "POST"])
@login_required
def door_events(membership_id: int):
    from eventsite.events import (
        staff,  # the one place accounts pages use the events domain
    )

    assignment = staff.door_assignment(membership_id, actor=current_user)
    form = DoorEventsForm(data={"event_ids": sorted(assignment.assigned_ids)})
    form.event_ids.choices = [SelectChoice(e.id, e.title) for e in assignment.events]
    if form.validate_on_submit():
        try:
            staff.assign_door_events(membership_id, form.event_ids.data or [], actor=current_user)
        except ValidationError as e:
            db.session.rollback()
            form.apply_errors(e.errors)
        else:
            db.session.commit()
            flash(f"Saved the events {assignment.membership.user.display_name} can check people in for.", "success")
            return redirect(url_for("accounts.team_page"), 303)
    status = 422 if form.errors else 200
    return render_template("accounts/door_events.html", assignment=assignment, form=form), status


@bp.post("/team/invitations/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(invitation_id: int):
    team.managed_invitation(invitation_id, actor=current_user)
    if not ConfirmForm().validate_on_submit():
        return _render_team(400, error="The form was incomplete; please try again.")
    invitation = team.revoke_invitation(invitation_id, actor=current_user)
    db.session.commit()
    flash(f"The invitation to {invitation.email} is withdrawn; its link no longer works.", "success")
    return redirect(url_for("accounts.team_page"), 303)


@bp.post("/team/invitations/<int:invitation_id>/resend")
@login_required
def resend_invitation(invitation_id: int):
    team.managed_invitation(invitation_id, actor=current_user)
    if not ConfirmForm().validate_on_submit():
        return _render_team(400, error="The form was incomplete; please try again.")
    invitation, _ = team.resend_invitation(invitation_id, actor=current_user)
    db.session.commit()
    flash(f"A new invitation link is on its way to {invitation.email}; the old link no longer works.", "success")
    return redirect(url_for("accounts.team_page"), 303)


# --- accepting an invitation -------------------------------------------------------------------

@bp.errorhandler(team.InvitationError)
def _unusable_invitation(e: team.InvitationError):
    return render_template("accounts/invitation_invalid.html", error=e), e.status


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token: str):
    user = current_user._get_current_object() if current_user.is_authenticated else None
    inv = team.invitation_for_token(token)
    mode = team.invitation_mode(inv, user)  # signup, accept, login or wrong_account
    form = SignupForm() if mode == "signup" else ConfirmForm()
    if mode in ("signup", "accept") and form.validate_on_submit():
        data = form.data if mode == "signup" else {}
        try:
            member, membership = team.accept_invitation(
                token, user=user, name=data.get("name") or "", password=data.get("password") or ""
            )
        except ValidationError as e:
            db.session.rollback()
            form.apply_errors(e.errors)
        else:
            db.session.commit()
            if user is None:
                start_session(member)
            flash(f"Welcome to the team of {membership.organization.name}!", "success")
            return redirect(url_for("manage_events.dashboard"), 303)
    status = 422 if form.errors else (409 if request.method == "POST" and mode not in ("signup", "accept") else 200)
    return render_template("accounts/invitation.html", invitation=inv, mode=mode, form=form, token=token), status
