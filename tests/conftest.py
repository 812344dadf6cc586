"""Fixtures: the app on SQLite or PostgreSQL, clients, a real SMTP server, a live server and Chromium.

EVENTSITE_TEST_DATABASE=sqlite|postgres picks the database (make test runs both). On PostgreSQL the
suite creates its own database from EVENTSITE_TEST_POSTGRES_URL and drops it at the end.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
import re
import secrets
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from sqlalchemy import text

from eventsite import create_app
from eventsite.config import TestConfig
from eventsite.extensions import db

DATABASE_KIND = os.environ.get("EVENTSITE_TEST_DATABASE", "sqlite").lower()
POSTGRES_ADMIN_URL = os.environ.get("EVENTSITE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CHROMIUM = "/usr/bin/chromium"


def pytest_report_header(config):
    return [f"eventsite test database: {DATABASE_KIND}"]


def pytest_collection_modifyitems(config, items):
    if DATABASE_KIND != "postgres":
        skip = pytest.mark.skip(reason="needs PostgreSQL (concurrency); runs in the PostgreSQL pass of make test")
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


# --- databases ---------------------------------------------------------------------------------

def _pg_url_for(dbname: str) -> str:
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


def create_postgres_database(prefix: str = "eventsite_test") -> str:
    import psycopg

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def fresh_database_url(tmp_path_factory):
    """A factory for extra empty databases of the kind under test (dropped at the end)."""
    made: list[str] = []

    def make(label: str = "extra") -> str:
        if DATABASE_KIND == "postgres":
            name = create_postgres_database(f"eventsite_{label}")
            made.append(name)
            return _pg_url_for(name)
        return "sqlite:///" + str(tmp_path_factory.mktemp(label) / "db.sqlite3")

    yield make
    for name in made:
        drop_postgres_database(name)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if DATABASE_KIND == "postgres":
        name = create_postgres_database()
        yield _pg_url_for(name)
        drop_postgres_database(name)
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "eventsite.sqlite3")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- email: a real SMTP server on loopback -----------------------------------------------------

@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class SMTPSink:
    host: str
    port: int
    messages: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def to(self, address: str) -> list[ReceivedMail]:
        with self.lock:
            return [m for m in self.messages if address.lower() in [r.lower() for r in m.rcpt_tos]]


@pytest.fixture(scope="session")
def smtp_server():
    from aiosmtpd.controller import Controller

    sink = SMTPSink("127.0.0.1", 0)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with sink.lock:
                sink.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
            return "250 Message accepted for delivery"

    sink.port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


@pytest.fixture
def mailbox(smtp_server):
    """The SMTP sink, emptied for this test."""
    smtp_server.clear()
    return smtp_server


# --- the app -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def app(database_url, smtp_server, tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    os.environ["EVENTSITE_INSTANCE_PATH"] = str(instance)
    from eventsite.config import normalize_database_url

    class SuiteConfig(TestConfig):
        # Handed to create_app() so that db.init_app() binds the engine to the test database:
        # Flask-SQLAlchemy creates its engines in init_app, so changing the URI afterwards is ignored
        # (the PostgreSQL pass used to run on the instance's SQLite file).
        SQLALCHEMY_DATABASE_URI = normalize_database_url(database_url)
        EVENTSITE_MAIL_URL = smtp_server.url
        EVENTSITE_BASE_URL = "http://eventsite.test"

    application = create_app(SuiteConfig)
    with application.app_context():
        assert db.engine.dialect.name == ("postgresql" if DATABASE_KIND == "postgres" else "sqlite"), (
            f"the test app is bound to {db.engine.url!r}, not to the test database"
        )
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


_RESTART_SEQUENCES = """
    SELECT setval(c.oid::regclass, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'S' AND n.nspname = current_schema()
"""


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Every test starts from empty tables (truncation works across threads and the live server)."""
    yield
    if "app" not in request.fixturenames:
        return
    application = request.getfixturevalue("app")
    with application.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            # DELETE, children first, rather than TRUNCATE: on PostgreSQL a TRUNCATE of every table
            # took 110 ms (new files for each table), a DELETE of a test's few rows 4 ms, which was
            # two minutes of the PostgreSQL pass. Ids start from 1 again, as after TRUNCATE ... RESTART.
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))
            if conn.dialect.name == "postgresql":
                conn.execute(text(_RESTART_SEQUENCES))
    application.extensions.pop("eventsite.page_cache", None)  # copies of pages of deleted events
    from eventsite.extensions import limiter

    try:
        limiter.reset()
    except Exception:  # noqa: BLE001 - storage without reset support
        pass


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def ctx(app):
    """An application context for setting up data and asserting on the database.

    Do not make client requests inside it: the request would share this context's session.
    """
    with app.app_context():
        yield
        db.session.remove()


@contextmanager
def rate_limited_app(app, **overrides):
    """A second app with Flask-Limiter on (the suite's app has it off), on the same database and mail
    server. The limiter is one object shared by every app: its `enabled` flag is restored after."""
    from eventsite.extensions import limiter

    settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    settings.update(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        EVENTSITE_MAIL_URL=app.config["EVENTSITE_MAIL_URL"],
        EVENTSITE_BASE_URL=app.config["EVENTSITE_BASE_URL"],
        SECRET_KEY=app.config["SECRET_KEY"],
        **overrides,
    )
    was_enabled = limiter.enabled
    limited = create_app(settings)
    try:
        limiter.reset()
        yield limited
    finally:
        limiter.reset()
        limiter.enabled = was_enabled
        with limited.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def limited_app(app):
    with rate_limited_app(app) as limited:
        yield limited


# --- forms -------------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_from(html: str | bytes) -> str:
    if isinstance(html, bytes):
        html = html.decode("utf-8")
    m = _CSRF.search(html)
    assert m, "no csrf_token in the page"
    return m.group(1) or m.group(2)


def post_form(client, url: str, data: dict, *, form_url: str | None = None, **kwargs):
    """GET the page that holds the form, take its CSRF token, POST the data like a browser would."""
    page = client.get(form_url or url)
    assert page.status_code == 200, f"GET {form_url or url} answered {page.status_code}"
    return client.post(url, data={"csrf_token": csrf_from(page.data), **data}, **kwargs)


@pytest.fixture
def organizer(app):
    """An organizer who owns an organization. Password: 'correct horse battery'."""
    from tests.factories import make_organizer

    with app.app_context():
        user = make_organizer("owner@example.org", name="Olivia Owner")
        info = {"id": user.id, "email": user.email, "password": "correct horse battery",
                "organization_id": user.memberships[0].organization_id}
        db.session.remove()
    return info


def login(client, email: str, password: str = "correct horse battery"):
    response = post_form(client, "/organizer/login", {"email": email, "password": password})
    assert response.status_code in (302, 303), f"login failed: {response.status_code}"
    return response


@pytest.fixture
def organizer_client(app, organizer):
    c = app.test_client()
    login(c, organizer["email"], organizer["password"])
    return c


# --- the live server and Chromium --------------------------------------------------------------

@pytest.fixture(scope="session")
def live_server(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    reason = None
    if not os.path.exists(CHROMIUM):
        reason = f"browser tests not run: {CHROMIUM} is missing (make test installs Debian's chromium as root)"
    if reason:
        if os.environ.get("EVENTSITE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " and EVENTSITE_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


@pytest.fixture
def phone_page(browser):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()
