"""Organizer login and logout, forgotten passwords, her settings and API tokens; the team page and
invitations are routes of the same blueprint in `team_views` (imported at the end)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from eventsite.accounts import password_reset, services
from eventsite.accounts.forms import (
    ApiTokenForm,
    ConfirmForm,
    ForgotPasswordForm,
    LoginForm,
    PasswordForm,
    ProfileForm,
    ResetPasswordForm,
)
from eventsite.core.errors import DomainError, ValidationError
from eventsite.extensions import db, limiter, login_manager

bp = Blueprint("accounts", __name__, url_prefix="/organizer", template_folder="templates")

login_manager.login_view = "accounts.login"
login_manager.login_message = "Please log in to see that page."
login_manager.login_message_category = "info"


@login_manager.user_loader
def _load_user(session_id: str):
    return services.user_for_session(session_id)


# --- helpers -----------------------------------------------------------------------------------

def safe_next(target: str | None, default: str | None = None) -> str:
    """A same-site path to go to after login, or the dashboard. Never another host."""
    default = default or url_for("manage_events.dashboard")
    target = (target or "").strip()
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 32 or c == "\\" for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def prefix_ids(form, prefix: str):
    """Unique element ids for a form that shares its page with others (field names unchanged)."""
    for f in form:
        if f.name != "csrf_token":
            f.id = f.label.field_id = f"{prefix}-{f.name}"
    return form


def start_session(user) -> None:
    """A fresh session for `user`: nothing from before survives (no session fixation)."""
    session.clear()
    login_user(user)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_email_limit() -> str:
    return current_app.config["LOGIN_EMAIL_RATE_LIMIT"]


def _login_email_key() -> str:
    return "login-email:" + services.normalize_email(request.form.get("email", ""))[:254]


def _failed(response) -> bool:
    return response.status_code not in (302, 303)


def _user_key() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else get_remote_address()


# --- login and logout --------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, key_func=get_remote_address, methods=["POST"])
@limiter.limit(_login_email_limit, key_func=_login_email_key, methods=["POST"], deduct_when=_failed)
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        if current_user.is_authenticated:
            return redirect(safe_next(form.next.data))
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except DomainError as e:
            form.form_errors.append(e.message)
            return render_template("accounts/login.html", form=form), e.status
        db.session.commit()  # a hash upgraded to the current parameters
        start_session(user)
        return redirect(safe_next(form.next.data), 303)
    return render_template("accounts/login.html", form=form), (422 if form.errors else 200)


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash("You are logged out.", "success")
    return redirect(safe_next(request.form.get("next"), url_for("accounts.login")), 303)


# --- forgotten password ------------------------------------------------------------------------

def _reset_limit() -> str:
    return current_app.config["PASSWORD_RESET_RATE_LIMIT"]


def _reset_email_limit() -> str:
    return current_app.config["PASSWORD_RESET_EMAIL_RATE_LIMIT"]


def _reset_email_key() -> str:
    return "reset-email:" + services.normalize_email(request.form.get("email", ""))[:254]


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_reset_limit, key_func=get_remote_address, methods=["POST"])
@limiter.limit(_reset_email_limit, key_func=_reset_email_key, methods=["POST"])
def forgot_password():
    """Always the same answer, so the page never tells which emails have an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            password_reset.request_password_reset(form.email.data)
        except ValidationError as e:
            db.session.rollback()
            form.apply_errors(e.errors)
        else:
            db.session.commit()
            return render_template("accounts/password_forgot.html", form=None, sent=True)
    return render_template("accounts/password_forgot.html", form=form, sent=False), (422 if form.errors else 200)


@bp.errorhandler(password_reset.ResetLinkError)
def _unusable_reset_link(e: password_reset.ResetLinkError):
    return render_template("accounts/password_reset_invalid.html", error=e), e.status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, key_func=get_remote_address, methods=["POST"])
def reset_password(token: str):
    user = password_reset.user_for_reset_token(token)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            password_reset.reset_password(token, form.new_password.data)
        except ValidationError as e:
            db.session.rollback()
            form.apply_errors(e.errors)
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash("Your password is changed, and every device where you were logged in is logged out. "
                  "Log in with your new password.", "success")
            return redirect(url_for("accounts.login"), 303)
    return render_template("accounts/password_reset.html", form=form, token=token, user=user), (422 if form.errors else 200)


# --- settings: profile, password, API tokens ---------------------------------------------------

def _render_settings(status: int = 200, *, profile=None, password=None, token=None):
    return render_template(
        "accounts/settings.html",
        profile_form=prefix_ids(profile or ProfileForm(formdata=None, obj=current_user, current_password=""), "profile"),
        password_form=prefix_ids(password or PasswordForm(formdata=None), "password"),
        token_form=prefix_ids(token or ApiTokenForm(formdata=None), "token"),
        tokens=services.api_tokens_for(current_user),
    ), status


@bp.get("/settings")
@login_required
def settings():
    return _render_settings()


@bp.post("/settings/profile")
@login_required
def update_profile():
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            services.update_profile(current_user, name=form.name.data, email=form.email.data,
                                    current_password=form.current_password.data or "")
        except ValidationError as e:
            db.session.rollback()
            form.apply_errors(e.errors)
        else:
            db.session.commit()
            flash("Your details are saved.", "success")
            return redirect(url_for("accounts.settings"), 303)
    return _render_settings(422, profile=form)


@bp.post("/settings/password")
@login_required
@limiter.limit(_login_limit, key_func=_user_key)
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            services.change_password(user, form.current_password.data, form.new_password.data)
        except ValidationError as e:
            db.session.rollback()
            form.apply_errors(e.errors)
        else:
            db.session.commit()
            start_session(user)  # this browser stays logged in; every other session ends
            flash("Your password is changed. Any other device where you were logged in is now logged out.", "success")
            return redirect(url_for("accounts.settings"), 303)
    return _render_settings(422, password=form)


@bp.post("/settings/tokens")
@login_required
def create_token():
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _render_settings(422, token=form)
    token, plaintext = services.create_api_token(current_user, form.token_name.data)
    db.session.commit()
    return render_template("accounts/token_created.html", token=token, plaintext=plaintext)


@bp.route("/settings/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@login_required
def revoke_token(token_id: int):
    token = services.api_token_of(current_user, token_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        services.revoke_api_token(token, actor=current_user)
        db.session.commit()
        flash(f"The token “{token.name}” is revoked; programs using it can no longer reach the API.", "success")
        return redirect(url_for("accounts.settings"), 303)
    return render_template("accounts/token_revoke.html", token=token, form=form)


# --- every page of the blueprint ----------------------------------------------------------------

@bp.after_request
def _private(response):
    """Organizer pages hold private data (and a new token, or an invitation link): never cached."""
    response.headers.setdefault("Cache-Control", "no-store")
    if request.endpoint in ("accounts.invitation", "accounts.reset_password"):
        response.headers["Referrer-Policy"] = "no-referrer"  # the link is a secret
    return response


# The team pages and accepting an invitation are routes of this blueprint too.
from eventsite.accounts import team_views  # noqa: E402, F401
