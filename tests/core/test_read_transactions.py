"""On PostgreSQL a request that only read ends its transaction with COMMIT on the driver's connection
(core/db.py `commit_if_only_read`, core/web.py `discard_session`): PostgreSQL keeps the prepared
statements psycopg made, which a ROLLBACK throws away. Anything that wrote, or has unsaved changes,
is still rolled back, and the ORM's objects are left as a rollback leaves them."""
from __future__ import annotations

from sqlalchemy import text, update

from eventsite.core.db import commit_if_only_read
from eventsite.events.models import Event
from eventsite.extensions import db
from tests.conftest import DATABASE_KIND
from tests.factories import make_event, make_ticket_type

POSTGRES = DATABASE_KIND == "postgres"


def _event(app, organizer) -> tuple[int, str]:
    with app.app_context():
        event = make_event(organizer["organization_id"], title="Reading Circle")
        make_ticket_type(event)
        return event.id, event.slug


def test_only_a_transaction_that_only_read_is_committed(app, organizer):
    event_id, _ = _event(app, organizer)
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        assert commit_if_only_read(db.session()) is POSTGRES  # SQLite has no prepared statements to keep
    with app.app_context():
        db.session.execute(update(Event).where(Event.id == event_id).values(summary="Not saved"))
        assert commit_if_only_read(db.session()) is False
    with app.app_context():
        db.session.get(Event, event_id).title = "Changed and not saved"
        assert commit_if_only_read(db.session()) is False
    with app.app_context():
        assert commit_if_only_read(db.session()) is False  # no transaction at all


def test_what_wrote_or_would_write_is_rolled_back(app, organizer):
    event_id, _ = _event(app, organizer)
    with app.app_context():  # an unsaved change to an object
        db.session.get(Event, event_id).title = "Changed and not saved"
    with app.app_context():  # a statement that wrote, never committed
        db.session.execute(update(Event).where(Event.id == event_id).values(summary="Not saved either"))
    with app.app_context():
        event = db.session.get(Event, event_id)
        assert (event.title, event.summary) == ("Reading Circle", "An evening of talks and conversations.")


def test_objects_read_in_a_context_stay_readable_after_it(app, organizer):
    event_id, _ = _event(app, organizer)
    with app.app_context():
        event = db.session.get(Event, event_id)
    assert event.title == "Reading Circle"  # not expired by the commit


def test_prepared_statements_outlive_the_request(app, client, organizer, monkeypatch):
    """On PostgreSQL the event page's query is prepared once per connection, not planned each time."""
    monkeypatch.setitem(app.config, "EVENTSITE_FINGERPRINT_REUSE_SECONDS", 0)  # every GET runs its query
    _, slug = _event(app, organizer)
    with app.app_context():
        db.engine.dispose()  # one connection from here on (the pool hands out the oldest idle one)
    for _ in range(8):  # psycopg prepares a query from its 5th run
        assert "Reading Circle" in client.get(f"/events/{slug}").get_data(as_text=True)
    with app.app_context():
        if POSTGRES:
            prepared = db.session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
            assert prepared >= 1  # was 0: every request's ROLLBACK deallocated them
        else:  # SQLite has no such statements; the connection was handed back clean
            assert db.session.scalar(text("SELECT count(*) FROM events")) == 1
