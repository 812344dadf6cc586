"""Database indexes follow the queries (issue 7): the hot queries, as the app sends them, are planned
with an index once the tables hold enough rows for the planner to have a real choice.

The tables get a few thousand rows (INSERT ... SELECT over generate_series on PostgreSQL, a recursive
CTE on SQLite) and fresh statistics (ANALYZE); each query is captured from the real code path (a
`before_cursor_execute` listener) and explained with its own parameters: on PostgreSQL
`EXPLAIN (FORMAT JSON)`, whose plan must read the table through the named index and never by a
sequential scan; on SQLite `EXPLAIN QUERY PLAN`, which must SEARCH the table USING that index.
No `enable_seqscan = off`: the planner chooses the index on its own.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text

from eventsite.checkin.reports import search_tickets
from eventsite.checkin.services import _load_ticket
from eventsite.core.db import utcnow
from eventsite.core.mail.worker import claim_due
from eventsite.events.models import Event
from eventsite.events.page_cache import event_fingerprint
from eventsite.events.services import public_event
from eventsite.extensions import db
from eventsite.registration import reports
from eventsite.registration.services import order_by_token

EVENTS = 2000
TICKETS = 6000  # 2,000 of them for the event under test, the rest spread over the others
OUTBOX = 4000  # mostly sent; 40 due
BIG_EVENT = 1


def _series(dialect: str, n: int) -> str:
    if dialect == "postgresql":
        return f"generate_series(1, {n}) AS s(i)"
    return f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s) AS s"


def _ago(dialect: str, minutes: str) -> str:
    if dialect == "postgresql":
        return f"(now() - ({minutes}) * interval '1 minute')"
    return f"datetime('now', printf('%+d minutes', -({minutes})))"


def _seed(organization_id: int) -> None:
    conn = db.session.connection()
    d = conn.dialect.name
    if d == "postgresql":
        # The suite empties tables with DELETE: the rows below would land in the free space earlier
        # tests left, in no order, and the planner (which weighs how well a table's physical order
        # follows an index) would judge these tables by that. Fresh files, as on a new database.
        conn.execute(text("TRUNCATE events, ticket_types, orders, tickets, outbox_messages RESTART IDENTITY CASCADE"))
    now = _ago(d, "0")
    conn.execute(text(f"""
        INSERT INTO events (organization_id, title, slug, summary, description, starts_at, ends_at, timezone,
                            venue_name, venue_address, online_url, status, sold, currency, created_at, updated_at)
        SELECT {organization_id}, 'Event ' || i, 'event-' || i, '', '', {_ago(d, '-20000 - i')},
               {_ago(d, '-20180 - i')}, 'Europe/Berlin', '', '', '', 'published', 0, 'EUR', {now}, {now}
        FROM {_series(d, EVENTS)}"""))
    conn.execute(text(f"""
        INSERT INTO ticket_types (event_id, name, description, price_cents, currency, capacity, sold, hidden,
                                  position, max_per_order, created_at, updated_at)
        SELECT id, 'General admission', '', 0, 'EUR', 5000, 0, false, 0, 10, {now}, {now} FROM events"""))
    # One order per ticket: order i for ticket i; the first 2,000 for the big event.
    event_of = f"CASE WHEN i <= 2000 THEN (SELECT min(id) FROM events) ELSE (SELECT min(id) FROM events) + (i % {EVENTS - 1}) + 1 END"
    conn.execute(text(f"""
        INSERT INTO orders (event_id, code, token, buyer_name, buyer_email, status, source, total_cents, currency,
                            answers, confirmation_count, created_at)
        SELECT {event_of}, 'C' || i, 'order-token-' || i || '-abcdefghijklmnop', 'Buyer ' || i,
               'buyer' || i || '@example.org', 'confirmed', 'public', 0, 'EUR', CAST('{{}}' AS JSON), 0, {_ago(d, 'i')}
        FROM {_series(d, TICKETS)}"""))
    conn.execute(text(f"""
        INSERT INTO tickets (order_id, event_id, ticket_type_id, secret, attendee_name, price_cents, status, created_at)
        SELECT o.id, o.event_id, tt.id, 'SECRET' || o.id || 'ABCDEFGHJKLMNPQRSTU', 'Attendee ' || o.buyer_name,
               0, 'valid', o.created_at
        FROM orders o JOIN ticket_types tt ON tt.event_id = o.event_id"""))
    conn.execute(text(f"""
        INSERT INTO outbox_messages (key, message_id, to_addr, subject, text_body, attachments, headers, status,
                                     attempts, next_attempt_at, created_at)
        SELECT 'k' || i, '<m' || i || '@eventsite.test>', 'someone' || i || '@example.org', 'Your tickets', 'Hello',
               CAST('[]' AS JSON), CAST('{{}}' AS JSON), CASE WHEN i % 100 = 0 THEN 'pending' ELSE 'sent' END,
               1, {_ago(d, 'i')}, {_ago(d, 'i')}
        FROM {_series(d, OUTBOX)}"""))
    conn.execute(text("ANALYZE"))
    db.session.commit()
    # SQLite reads its statistics (sqlite_stat1) when a connection loads the schema: start afresh.
    db.session.remove()
    db.engine.dispose()


@contextmanager
def _captured():
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)


def _statement(run: Callable[[], object], matches: Callable[[str], bool]) -> tuple[str, object]:
    with _captured() as statements:
        run()
    found = [s for s in statements if matches(s[0])]
    assert found, f"the query was not sent; sent: {[s for s, _ in statements]}"
    return found[0]


def _pg_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _pg_nodes(child)


def _pg_plan(statement: str, parameters) -> dict:
    raw = db.session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


def _shown(plan: dict) -> list:
    return [(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in _pg_nodes(plan)]


def _assert_uses_index(statement: str, parameters, table: str, index: str) -> None:
    """The plan reads `table` through `index` and nowhere scans it whole (other accesses of the table,
    by primary key say, are allowed)."""
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        plan = _pg_plan(statement, parameters)
        nodes = [n for n in _pg_nodes(plan) if n.get("Relation Name") == table or n.get("Index Name") == index]
        shown = _shown(plan)
        assert not any(n["Node Type"] == "Seq Scan" for n in nodes), f"sequential scan of {table}: {shown}"
        assert any(n.get("Index Name") == index for n in nodes), f"{index} not used: {shown}"
    else:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        details = [r[-1] for r in rows]
        on_table = [d for d in details if d.split(" ")[1:2] == [table]]
        # SEARCH: through an index (or the rowid); SCAN: the whole table (or the whole of an index).
        assert on_table and all(d.startswith("SEARCH ") for d in on_table), f"{table} scanned: {details}"
        assert any(f"USING INDEX {index} " in d or f"USING COVERING INDEX {index} " in d
                   for d in on_table), f"{table} not searched with {index}: {details}"


@pytest.fixture
def big_tables(app, organizer):
    with app.app_context():
        _seed(organizer["organization_id"])
        yield
        db.session.remove()


def _big_event() -> Event:
    return db.session.get(Event, db.session.scalar(text("SELECT min(id) FROM events")))


def _unique_index(table: str, column: str) -> str:
    """The name the database gave the index behind `unique=True` on `column`."""
    from sqlalchemy import inspect

    inspector = inspect(db.session.connection())
    for uc in inspector.get_unique_constraints(table):
        if uc["column_names"] == [column]:
            if db.session.connection().dialect.name == "postgresql":
                return uc["name"]
    for ix in inspector.get_indexes(table):
        if ix["column_names"] == [column] and ix.get("unique"):
            return ix["name"]
    # SQLite names the index of an inline UNIQUE constraint sqlite_autoindex_<table>_<n>.
    rows = db.session.connection().exec_driver_sql(f"PRAGMA index_list('{table}')").all()
    for row in rows:
        name = row[1]
        cols = [r[2] for r in db.session.connection().exec_driver_sql(f"PRAGMA index_info('{name}')").all()]
        if cols == [column]:
            return name
    raise AssertionError(f"no unique index on {table}.{column}")


def _ticket_by_qr_secret() -> None:
    secret = db.session.scalar(text("SELECT secret FROM tickets ORDER BY id DESC LIMIT 1"))
    statement, params = _statement(lambda: _load_ticket(secret=secret), lambda s: "FROM tickets" in s)
    _assert_uses_index(statement, params, "tickets", _unique_index("tickets", "secret"))


def _order_by_ticket_page_token() -> None:
    token = db.session.scalar(text("SELECT token FROM orders ORDER BY id DESC LIMIT 1"))
    statement, params = _statement(lambda: order_by_token(token), lambda s: "FROM orders" in s)
    _assert_uses_index(statement, params, "orders", _unique_index("orders", "token"))


def _event_by_slug() -> None:
    statement, params = _statement(lambda: public_event(f"event-{EVENTS // 2}"), lambda s: "FROM events" in s)
    _assert_uses_index(statement, params, "events", _unique_index("events", "slug"))


def _event_page_fingerprint() -> None:
    """What a new visitor of the event page costs the database (events/page_cache.py)."""
    statement, params = _statement(lambda: event_fingerprint(f"event-{EVENTS // 2}"), lambda s: "FROM events" in s)
    _assert_uses_index(statement, params, "events", _unique_index("events", "slug"))


def _attendee_list_page_newest_first() -> None:
    event = _big_event()
    statement, params = _statement(
        lambda: reports.registrations_page(event, reports.RegistrationFilters(), 3),
        lambda s: "ORDER BY tickets.created_at DESC" in s)
    _assert_uses_index(statement, params, "tickets", "ix_tickets_event_created")
    if db.session.connection().dialect.name == "postgresql":  # read in index order: no sort of the event's tickets
        plan = _pg_plan(statement, params)
        assert not [n for n in _pg_nodes(plan) if "Sort" in n["Node Type"]], _shown(plan)


def _checkin_search_by_name() -> None:
    """The name is matched inside the event's tickets, found through an index starting with event_id."""
    event = _big_event()
    statement, params = _statement(lambda: search_tickets(event, "Buyer 12"), lambda s: "FROM tickets" in s)
    if db.session.connection().dialect.name == "sqlite":
        rows = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
        on_tickets = [r[-1] for r in rows if r[-1].split(" ")[1:2] == ["tickets"]]
        assert on_tickets and all(d.startswith("SEARCH tickets USING INDEX ix_tickets_event_") for d in on_tickets), rows
        return
    plan = _pg_plan(statement, params)
    tickets = [n for n in _pg_nodes(plan) if n.get("Relation Name") == "tickets"]
    assert tickets and all(n["Node Type"] != "Seq Scan" for n in tickets), _shown(plan)
    used = {n.get("Index Name") for n in _pg_nodes(plan)} & {"ix_tickets_event_created", "ix_tickets_event_status"}
    assert used, _shown(plan)


def _outbox_claim_of_due_rows() -> None:
    statement, params = _statement(lambda: claim_due(10, utcnow() + timedelta(minutes=1)),
                                   lambda s: "FROM outbox_messages" in s)
    _assert_uses_index(statement, params, "outbox_messages", "ix_outbox_messages_due")


HOT_QUERIES = [_ticket_by_qr_secret, _order_by_ticket_page_token, _event_by_slug, _event_page_fingerprint,
               _attendee_list_page_newest_first,
               _checkin_search_by_name, _outbox_claim_of_due_rows]


def test_the_hot_queries_use_their_index(big_tables):
    """One seeding for all of them (it is the slow part); every query is checked, failures listed."""
    failures = []
    for check in HOT_QUERIES:
        try:
            check()
        except AssertionError as e:
            failures.append(f"{check.__name__}: {e}")
        finally:
            db.session.rollback()
    assert failures == [], "\n".join(failures)
