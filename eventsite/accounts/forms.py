"""Forms for login, settings, the team page and invitations. Rules live in the services; these
only check the shape of the input."""
from __future__ import annotations

from wtforms import (
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from eventsite.accounts.models import Role
from eventsite.accounts.services import MIN_PASSWORD_LENGTH
from eventsite.core.forms import ServiceForm

ROLE_CHOICES = [(r.value, r.label) for r in Role]


def role_choices() -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in ROLE_CHOICES]
PASSWORD_HINT = f"At least {MIN_PASSWORD_LENGTH} characters. A few unrelated words make a strong one."


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(ServiceForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)],
                       render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class ProfileForm(ServiceForm):
    name = StringField("Your name", validators=[DataRequired("Enter your name."), Length(max=200)],
                       render_kw={"autocomplete": "name"})
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)],
                       render_kw={"autocomplete": "email", "autocapitalize": "none", "spellcheck": "false"})
    current_password = PasswordField(
        "Current password", validators=[Optional(), Length(max=1024)],
        description="Needed only when you change your email.", render_kw={"autocomplete": "current-password"},
    )


class ResetPasswordForm(ServiceForm):
    """A new password, typed twice (the reset link's form; PasswordForm adds the current one)."""

    new_password = PasswordField(
        "New password",
        validators=[DataRequired("Choose a new password."),
                    Length(min=MIN_PASSWORD_LENGTH, max=1024, message=f"Use at least {MIN_PASSWORD_LENGTH} characters.")],
        description=PASSWORD_HINT, render_kw={"autocomplete": "new-password"},
    )
    confirm_password = PasswordField(
        "New password again",
        validators=[DataRequired("Type the new password again."), EqualTo("new_password", "The two passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class PasswordForm(ResetPasswordForm):
    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password.")],
                                     render_kw={"autocomplete": "current-password"})


class ApiTokenForm(ServiceForm):
    token_name = StringField(
        "Token name", validators=[DataRequired("Give the token a name."), Length(max=100)],
        description="What it is for, e.g. “Website sync” or “Door laptop”.",
    )


class ConfirmForm(ServiceForm):
    """A button that changes something: only the CSRF token."""


class InviteForm(ServiceForm):
    email = EmailField("Email", validators=[DataRequired("Enter the email to invite."), Length(max=254)],
                       render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"})
    role = SelectField("Role", choices=role_choices(), default=Role.ORGANIZER.value,
                       description="Owners manage the team; organizers manage events; check-in staff only work the door of the events you choose.")


class RoleForm(ServiceForm):
    role = SelectField("Role", choices=role_choices(), validators=[InputRequired()])


class DoorEventsForm(ServiceForm):
    event_ids = MultiCheckboxField("Events she may check people in for", coerce=int)


class ForgotPasswordForm(ServiceForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)],
                       render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})


class SignupForm(ServiceForm):
    """Accepting an invitation without an account yet."""

    name = StringField("Your name", validators=[DataRequired("Enter your name."), Length(max=200)],
                       render_kw={"autocomplete": "name"})
    password = PasswordField(
        "Choose a password",
        validators=[DataRequired("Choose a password."),
                    Length(min=MIN_PASSWORD_LENGTH, max=1024, message=f"Use at least {MIN_PASSWORD_LENGTH} characters.")],
        description=PASSWORD_HINT, render_kw={"autocomplete": "new-password"},
    )
    confirm_password = PasswordField(
        "Password again",
        validators=[DataRequired("Type the password again."), EqualTo("password", "The two passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )
