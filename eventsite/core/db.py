"""Declarative base, UTC timestamps and database helpers."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, MetaData, Table, any_, bindparam, event, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, aware, in UTC. Tests may freeze it by patching this function's users."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every database.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones, so values are stored as naive UTC and
    come back aware. Naive datetimes are refused: they are always a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use aware UTC datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- read-only transactions end with COMMIT -------------------------------------------------------
# psycopg forgets its prepared statements at every ROLLBACK (PostgreSQL plans each query again), and
# a request that only read used to end with one. `discard_session` commits such a transaction on the
# driver's connection instead: the same for the data, and PostgreSQL's planning, most of its CPU per
# page, is paid once per connection rather than per request. Only the driver commits: the ORM session
# neither expires its objects nor runs commit hooks, and closing it finds nothing left to roll back.
# Any statement that is not a SELECT (an INSERT, an UPDATE, a SAVEPOINT) marks the transaction as a
# writer, and a writer, an unsaved change or a failed request is rolled back as before.
WROTE = "eventsite.wrote"


@event.listens_for(Engine, "begin")
def _transaction_begins(conn) -> None:
    conn.info[WROTE] = False


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(conn, cursor, statement, parameters, context, executemany) -> None:
    if not conn.info.get(WROTE) and statement.lstrip()[:6].upper() != "SELECT":
        conn.info[WROTE] = True


def commit_if_only_read(session) -> bool:
    """On PostgreSQL, COMMIT the session's transaction if it wrote nothing and has nothing to write."""
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return False
    connection = session.connection()
    if connection.dialect.name != "postgresql" or connection.info.get(WROTE) is not False:
        return False
    try:
        connection.connection.dbapi_connection.commit()
    except connection.dialect.loaded_dbapi.Error:
        return False  # the connection died: closing the session invalidates it (web.discard_session)
    return True


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: enforce foreign keys, WAL for concurrent readers, wait for the writer lock."""
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def is_postgres(session_or_engine) -> bool:
    bind = session_or_engine.get_bind() if hasattr(session_or_engine, "get_bind") else session_or_engine
    return bind.dialect.name == "postgresql"


# --- units of work that write: SQLite's writer lock, retries of transient conflicts ---------------

RETRYABLE_SQLSTATES = frozenset({
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available (a lock_timeout ran out)
})


def is_retryable_conflict(exc: BaseException) -> bool:
    """A failure that says "try the same thing again", not "this is wrong".

    PostgreSQL: serialization failures, deadlocks, lock timeouts (by SQLSTATE). SQLite: "database is
    locked" / "database is busy" (the busy timeout ran out, or a snapshot went stale).
    """
    from sqlalchemy.exc import DBAPIError, OperationalError

    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    if isinstance(exc, OperationalError):
        message = str(orig).lower()
        return "database is locked" in message or "database is busy" in message or "database table is locked" in message
    return False


def begin_write(session) -> None:
    """Start the session's transaction as a writer now.

    SQLite: `BEGIN IMMEDIATE`, which takes the single writer lock up front, waiting for it under the
    busy timeout. Without it a transaction that reads first and writes later can fail at once with
    "database is locked" (SQLITE_BUSY_SNAPSHOT: another writer committed after our read snapshot, and
    SQLite cannot wait that away). Taking the lock first also means every read inside the unit of work
    sees the latest committed data. Does nothing if the connection is already in a transaction (an
    earlier write of the same unit took the lock) and nothing on PostgreSQL, whose row locks do the job.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def run_in_transaction(work, *, session=None, attempts: int = 6, base_delay: float = 0.02):
    """Run `work()` as one unit of work and commit it; retry transient conflicts; return its result.

    This is the "commit once" of a view, CLI command or job whose unit of work writes under
    contention (registrations, cancellations, check-ins)::

        order = run_in_transaction(lambda: register_attendees(event, ...))

    Why both a writer lock and retries:
    - On SQLite the unit of work starts with `begin_write()` (BEGIN IMMEDIATE), so writers queue on
      the busy timeout instead of failing with "database is locked" halfway through. Readers are not
      blocked (WAL). If the busy timeout itself runs out under extreme load, that is retried too.
    - On PostgreSQL, READ COMMITTED with conditional UPDATEs (`... WHERE sold + :n <= capacity`) needs
      no retry in the normal case (the row lock re-checks the condition), but a deadlock or a
      serialization failure (e.g. under SERIALIZABLE, or two paths locking rows in different orders)
      is the database asking to try again, so we do: rollback, short jittered backoff, re-run.
    Anything else, a `DomainError` included, rolls back and propagates at once. `work` must be safe to
    re-run from the start: it reads what it needs inside (ORM objects loaded before are expired by
    the rollback and reload on access).
    """
    import random
    import time

    if session is None:
        from eventsite.extensions import db

        session = db.session
    for attempt in range(1, attempts + 1):
        try:
            begin_write(session)
            result = work()
            session.commit()
            return result
        except Exception as exc:
            session.rollback()
            if attempt >= attempts or not is_retryable_conflict(exc):
                raise
            time.sleep(random.uniform(0, base_delay * (2 ** attempt)))
    raise AssertionError("unreachable")  # pragma: no cover


def insert_unnest(connection: Connection, table: Table, rows: list[dict], *, tail: str = "") -> CursorResult:
    """INSERT `rows` (dicts with the same keys, column names) into `table` on PostgreSQL as one
    `INSERT ... SELECT * FROM unnest(<one array per column>) <tail>`, on `connection`.

    Why not SQLAlchemy's multi-row VALUES: its text has a placeholder per value (7,000 for 500
    outbox rows), too long for psycopg's cache, so psycopg parses it again in Python for every
    batch (about 50 ms per 500 outbox rows), and an executemany without RETURNING is a statement per
    row. This text is the same for any number of rows: parsed once, planned once. The values go
    through each column type's own bind processing (enums, JSON), as SQLAlchemy's INSERT sends them.
    """
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    columns = [table.c[name] for name in rows[0]]
    arrays, casts = {}, []
    for n, column in enumerate(columns):
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        values = [row[column.name] for row in rows]
        arrays[f"c{n}"] = [process(v) for v in values] if process else values
        casts.append(f"CAST(:c{n} AS {column.type.compile(dialect=dialect)}[])")
    statement = text(f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
                     f"SELECT * FROM unnest({', '.join(casts)}) {tail}")
    return connection.execute(statement, arrays)


def among(column, values):
    """`column IN values` for a batch's hundreds or thousands of values: one array parameter on
    PostgreSQL (`= ANY(...)`), whose short text psycopg parses once, where an IN list's text, a
    placeholder per value, is parsed again for every query; a plain IN elsewhere.

    Decided for the database of the current `db.session`, the one the statement runs on.
    """
    from eventsite.extensions import db

    if db.session.get_bind().dialect.name != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
