"""The base of forms whose data goes to one service."""
from __future__ import annotations

from collections.abc import Mapping

from flask_wtf import FlaskForm


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
