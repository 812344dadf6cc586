"""Command line: flask --app eventsite seed-demo | create-organizer | create-api-token | worker."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from eventsite.extensions import db


@click.command("create-organizer")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", default="")
@click.option("--organization", "organization_name", default=None, help="Name of her organization.")
@with_appcontext
def create_organizer_command(email: str, password: str, name: str, organization_name: str | None) -> None:
    """Create an organizer account that owns a new organization."""
    from eventsite.accounts.services import create_organizer
    from eventsite.core.errors import ValidationError

    try:
        user = create_organizer(email, password, name=name, organization_name=organization_name)
    except ValidationError as e:
        raise click.ClickException(e.message) from e
    db.session.commit()
    click.echo(f"Created organizer {user.email}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(create_organizer_command)
