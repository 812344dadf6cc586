"""The base of forms whose data goes to one service."""
from __future__ import annotations

from collections.abc import Mapping

from flask_wtf import FlaskForm
from wtforms import validators


class ServiceForm(FlaskForm):
    """Maps a service's `ValidationError.errors` back onto the form: each message next to its field,
    the rest (`__all__`, fields the form does not show) at the top of the form."""

    #: service field name -> form field name, where they differ
    renames: dict[str, str] = {}

    def apply_errors(self, errors: Mapping[str, str]) -> None:
        for key, message in errors.items():
            name = self.renames.get(key, key)
            field = self._fields.get(name)
            if field is not None and name != "csrf_token":
                field.errors = [*field.errors, message]
            else:
                self.form_errors.append(message)


class NumberRange(validators.NumberRange):
    """WTForms' NumberRange, also for numbers too large to compare as floats (it raised OverflowError
    on a typed "1" followed by 400 zeros, a 500): out of range like any other."""

    def __call__(self, form, field):
        try:
            super().__call__(form, field)
        except OverflowError:
            message = self.message or field.gettext("Number must be between %(min)s and %(max)s.")
            raise validators.ValidationError(message % dict(min=self.min, max=self.max)) from None
