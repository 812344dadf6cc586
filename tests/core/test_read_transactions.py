"""A request that only read ends its transaction with COMMIT (core/db.py `only_read`, core/web.py
`discard_session`): PostgreSQL keeps the prepared statements psycopg made, which a ROLLBACK throws
away. Anything that wrote, or has unsaved changes, or failed, is still rolled back."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event as sa_event
from sqlalchemy import text, update

from eventsite.events.models import Event
from eventsite.extensions import db
from tests.conftest import DATABASE_KIND
from tests.factories import make_event, make_ticket_type


@contextmanager
def _endings(app):
    """Which way each transaction ended, in order."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def commit(conn):
        seen.append("commit")

    def rollback(conn):
        seen.append("rollback")

    sa_event.listen(engine, "commit", commit)
    sa_event.listen(engine, "rollback", rollback)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "commit", commit)
        sa_event.remove(engine, "rollback", rollback)


def _event(app, organizer) -> tuple[int, str]:
    with app.app_context():
        event = make_event(organizer["organization_id"], title="Reading Circle")
        make_ticket_type(event)
        return event.id, event.slug


def test_pages_that_only_read_end_with_commit(app, client, organizer):
    _, slug = _event(app, organizer)
    with _endings(app) as seen:
        assert "Reading Circle" in client.get(f"/events/{slug}").get_data(as_text=True)
        assert client.get("/").status_code == 200
    assert seen == ["commit", "commit"]


def test_what_wrote_or_would_write_is_rolled_back(app, organizer):
    event_id, _ = _event(app, organizer)
    with _endings(app) as seen:
        with app.app_context():  # an unsaved change to an object
            db.session.get(Event, event_id).title = "Changed and not saved"
        with app.app_context():  # a statement that wrote, never committed
            db.session.execute(update(Event).where(Event.id == event_id).values(summary="Not saved either"))
    assert seen == ["rollback", "rollback"]
    with app.app_context():
        event = db.session.get(Event, event_id)
        assert (event.title, event.summary) == ("Reading Circle", "An evening of talks and conversations.")


def test_a_failed_request_is_rolled_back(app, organizer):
    _, slug = _event(app, organizer)
    with _endings(app) as seen:
        with app.test_request_context(f"/events/{slug}"):
            db.session.execute(text("SELECT 1"))
            app.do_teardown_appcontext(RuntimeError("the view failed"))
    assert seen == ["rollback"]


def test_prepared_statements_outlive_the_request(app, client, organizer):
    """On PostgreSQL the event page's query is prepared once per connection, not planned each time."""
    _, slug = _event(app, organizer)
    with app.app_context():
        db.engine.dispose()  # one connection from here on (the pool hands out the oldest idle one)
    for _ in range(8):  # psycopg prepares a query from its 5th run
        assert client.get(f"/events/{slug}").status_code == 200
    with app.app_context():
        if DATABASE_KIND == "postgres":
            prepared = db.session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
            assert prepared >= 1  # was 0: every request's ROLLBACK deallocated them
        else:  # SQLite has no such statements; the connection was handed back clean
            assert db.session.scalar(text("SELECT count(*) FROM events")) == 1
