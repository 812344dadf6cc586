"""Backups: `pg_dump -Fc` of a live database, `pg_restore` into a new empty one, and the app serves the
same data from the copy (the procedure in the README's "Backups" paragraph)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from sqlalchemy import func, select

from eventsite import create_app
from eventsite.accounts.services import authenticate
from eventsite.config import TestConfig, normalize_database_url
from eventsite.core.mail.models import OutboxMessage
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Order, Ticket
from eventsite.registration.services import register_attendees
from tests.factories import PASSWORD, make_event, make_organizer, make_ticket_type

pytestmark = pytest.mark.postgres_only


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is missing (Debian: apt-get install postgresql-client, the server's major version)"
        if os.environ.get("EVENTSITE_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " and EVENTSITE_REQUIRE_POSTGRES=1")
        pytest.skip(reason)
    return path


def _snapshot() -> dict:
    """What a person would notice missing: events, orders, ticket secrets, queued mail, counters."""
    return {
        "events": [(e.slug, e.title, e.starts_at, e.sold) for e in db.session.scalars(select(Event).order_by(Event.id))],
        "orders": [(o.code, o.token, o.buyer_email, o.status.value) for o in db.session.scalars(select(Order).order_by(Order.id))],
        "tickets": list(db.session.execute(select(Ticket.secret, Ticket.attendee_name).order_by(Ticket.id))),
        "outbox": list(db.session.execute(select(OutboxMessage.key, OutboxMessage.message_id).order_by(OutboxMessage.id))),
    }


def test_pg_dump_and_pg_restore_give_an_app_with_the_same_data(app, fresh_database_url, tmp_path):
    pg_dump, pg_restore = _tool("pg_dump"), _tool("pg_restore")
    with app.app_context():
        user = make_organizer("backup@example.org")
        event = make_event(user.memberships[0].organization_id, title="Mentoring Breakfast, Zürich")
        tt = make_ticket_type(event, capacity=50)
        for i in range(3):
            register_attendees(event, buyer_name=f"Dana {i}", buyer_email=f"dana{i}@example.org",
                               quantities={tt.id: 2}, attendees=[{"name": f"Guest {i}", "email": ""}])
        db.session.commit()
        before = _snapshot()
        db.session.remove()
    assert len(before["tickets"]) == 6 and len(before["outbox"]) == 3

    # The backup, taken while the app is connected (pg_dump reads one consistent snapshot).
    dump = tmp_path / "eventsite.dump"
    source = _libpq_url(app.config["SQLALCHEMY_DATABASE_URI"])
    subprocess.run([pg_dump, "--format=custom", "--no-owner", f"--file={dump}", f"--dbname={source}"],
                   check=True, capture_output=True, timeout=120)
    assert dump.stat().st_size > 0

    # The restore, into a new empty database.
    target = fresh_database_url("restore")
    restored = subprocess.run(
        [pg_restore, "--no-owner", "--exit-on-error", "--single-transaction", f"--dbname={_libpq_url(target)}", str(dump)],
        capture_output=True, text=True, timeout=120,
    )
    assert restored.returncode == 0, restored.stderr

    settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    settings.update(SQLALCHEMY_DATABASE_URI=normalize_database_url(target), SECRET_KEY=app.config["SECRET_KEY"],
                    EVENTSITE_MAIL_URL=app.config["EVENTSITE_MAIL_URL"])
    copy = create_app(settings)
    try:
        with copy.app_context():
            assert _snapshot() == before
            assert authenticate("backup@example.org", PASSWORD) is not None  # her password hash came along
            db.session.remove()
        page = copy.test_client().get(f"/events/{before['events'][0][0]}")
        assert page.status_code == 200 and "Mentoring Breakfast, Zürich" in page.get_data(as_text=True)
        # Sequences came along too: new rows do not collide with restored ones.
        with copy.app_context():
            event = db.session.scalar(select(Event))
            register_attendees(event, buyer_name="After Restore", buyer_email="after@example.org",
                               quantities={event.ticket_types[0].id: 1})
            db.session.commit()
            assert db.session.scalar(select(func.count(Order.id))) == 4
            db.session.remove()
    finally:
        with copy.app_context():
            db.session.remove()
            db.engine.dispose()
