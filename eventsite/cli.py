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


@click.command("worker")
@click.option("--once", is_flag=True, help="Do what is due now (tasks, then every due email) and exit.")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 1000),
              help="Emails claimed and sent per round over one connection.")
@with_appcontext
def worker_command(once: bool, batch: int) -> None:
    """Send email from the outbox and run periodic tasks (seat holds, waitlist, follow-ups).

    Runs until SIGTERM or Ctrl-C, which let the message being sent finish first.
    """
    import logging
    import signal
    import threading

    from flask import current_app

    from eventsite.core.mail.backends import MailConfigError, backend_for_app
    from eventsite.core.mail.worker import run_forever, run_once

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        backend = backend_for_app(current_app)
    except MailConfigError as e:
        raise click.ClickException(str(e)) from e

    if once:
        report = run_once(batch=batch)
        click.echo(report.summary())
        return

    stop = threading.Event()

    def _stop(signum, frame):  # noqa: ARG001 - signal handler signature
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    click.echo(f"worker: sending mail via {backend.url}; SIGTERM or Ctrl-C to stop")
    try:
        total = run_forever(stop, batch=batch)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"worker: stopped (sent {total.sent}, failed {total.failed})")


@click.command("create-api-token")
@click.argument("email")
@click.option("--name", default="API token", show_default=True, help="What the token is for.")
@with_appcontext
def create_api_token_command(email: str, name: str) -> None:
    """Create an API token for the account EMAIL and print it (only the token, once)."""
    from eventsite.accounts.services import create_api_token, find_user_by_email
    from eventsite.core.errors import ValidationError

    user = find_user_by_email(email)
    if user is None or not user.active:
        raise click.ClickException(f"No active account with the email {email}.")
    try:
        _, plaintext = create_api_token(user, name)
    except ValidationError as e:
        raise click.ClickException(e.message) from e
    db.session.commit()
    click.echo(plaintext)


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Create the demo organizer, her organization and demo events. Safe to run again: what exists is kept."""
    from flask import current_app

    from eventsite.core.errors import DomainError
    from eventsite.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_demo

    try:
        seed = seed_demo()
    except DomainError as e:
        db.session.rollback()
        raise click.ClickException(f"Could not seed the demo data: {e.message}") from e
    db.session.commit()
    base = current_app.config["EVENTSITE_BASE_URL"]
    if seed.created:
        click.echo("Demo data: created " + ", ".join(seed.created) + ".")
    else:
        click.echo("Demo data: already there, nothing changed.")
    for event in seed.events:
        click.echo(f"  {event.title}: {base}/events/{event.slug}")
    click.echo(f"Log in at {base}/organizer/login")
    click.echo(f"  email:    {DEMO_EMAIL}")
    click.echo(f"  password: {DEMO_PASSWORD}")


def init_app(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(create_organizer_command)
    app.cli.add_command(create_api_token_command)
    app.cli.add_command(worker_command)
