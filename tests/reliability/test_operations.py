"""Operations: request ids in structured logs, the outbox backlog in /healthz, configuration."""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import text, update

from eventsite import create_app
from eventsite.config import ConfigError, TestConfig, from_environment
from eventsite.core import logs
from eventsite.core.db import utcnow
from eventsite.core.mail import enqueue_email
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.views import backlog_queries
from eventsite.extensions import db

HEX32 = r"^[0-9a-f]{32}$"


@contextmanager
def captured_logs(log_format: str = "json"):
    """The app's own log handler, writing into a buffer for the duration."""
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    handler = logs.configure_logging(log_format, stream=buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def logging_app(app):
    """A second app on the same database with a route that logs from two loggers."""
    settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    settings.update(SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                    EVENTSITE_MAIL_URL=app.config["EVENTSITE_MAIL_URL"], SECRET_KEY=app.config["SECRET_KEY"])
    second = create_app(settings)

    def noisy():
        logging.getLogger("eventsite.registration").info("registering someone")
        logging.getLogger("some.library").warning("a library speaks", extra={"attempt": 2})
        return "ok"

    second.add_url_rule("/_test/noisy", "noisy", noisy)
    yield second
    with second.app_context():
        db.session.remove()
        db.engine.dispose()


def test_an_id_is_made_up_when_none_comes_in_and_returned(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    import re

    assert re.match(HEX32, first) and re.match(HEX32, second) and first != second


@pytest.mark.parametrize("incoming", ["abc-123", "7f3e2a1c-9b8d-4e5f-a6b7-c8d9e0f1a2b3", "edge:1-67891233.req_7"])
def test_a_sane_incoming_request_id_is_kept(client, incoming):
    assert client.get("/healthz", headers={"X-Request-ID": incoming}).headers["X-Request-ID"] == incoming


@pytest.mark.parametrize("incoming", ["", "x" * 129, "two words", "<script>", 'a"b', "id;drop", "ünïcode"])
def test_an_odd_incoming_request_id_is_replaced(client, incoming):
    import re

    returned = client.get("/healthz", headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
    assert re.match(HEX32, returned)


def test_every_line_logged_during_a_request_is_json_with_its_request_id(logging_app):
    client = logging_app.test_client()
    with captured_logs("json") as buffer:
        logging.getLogger("eventsite.worker").info("before any request")
        response = client.get("/_test/noisy", headers={"X-Request-ID": "req-42"})
        other = client.get("/_test/noisy")
    assert response.status_code == 200 and response.headers["X-Request-ID"] == "req-42"
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]  # every line is one JSON object
    assert "request_id" not in lines[0] and lines[0]["message"] == "before any request"
    mine = [entry for entry in lines if entry.get("request_id") == "req-42"]
    assert [e["logger"] for e in mine] == ["eventsite.registration", "some.library", "eventsite.request"]
    assert mine[1]["attempt"] == 2 and mine[1]["level"] == "WARNING"
    finished = mine[2]
    assert (finished["method"], finished["route"], finished["status"]) == ("GET", "/_test/noisy", 200)
    assert finished["duration_ms"] >= 0 and finished["time"].endswith("Z")
    theirs = [e for e in lines if e.get("request_id") == other.headers["X-Request-ID"]]
    assert len(theirs) == 3


def test_the_request_line_names_the_route_never_the_token_in_the_path(logging_app):
    client = logging_app.test_client()
    with captured_logs("json") as buffer:
        client.get("/tickets/SECRETTOKENABC123")
        client.get("/no/such/SECRETPATHXYZ")
    out = buffer.getvalue()
    assert "SECRETTOKENABC123" not in out and "SECRETPATHXYZ" not in out
    routes = [json.loads(line).get("route") for line in out.splitlines() if '"eventsite.request"' in line]
    assert routes == ["/tickets/<token>", None]


def test_text_logs_carry_the_request_id_too(logging_app):
    with captured_logs("text") as buffer:
        logging_app.test_client().get("/_test/noisy", headers={"X-Request-ID": "txt-7"})
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 3 and all("[txt-7]" in line for line in lines)


def test_a_production_process_logs_json_to_stderr(app, tmp_path):
    """The real configuration path: EVENTSITE_ENV=production gives JSON lines on stderr."""
    env = dict(os.environ, EVENTSITE_ENV="production", SECRET_KEY="x" * 40, EVENTSITE_BASE_URL="https://e.test",
               DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], EVENTSITE_MAIL_URL="smtp://127.0.0.1:25",
               EVENTSITE_INSTANCE_PATH=str(tmp_path))
    env.pop("EVENTSITE_LOG_FORMAT", None)
    code = ("from eventsite import create_app\n"
            "r = create_app().test_client().get('/healthz', headers={'X-Request-ID': 'prod-1'})\n"
            "print(r.status_code)")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "200", done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert entries[-1]["request_id"] == "prod-1" and entries[-1]["route"] == "/healthz"


def test_log_format_and_worker_timings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EVENTSITE_LOG_FORMAT", "JSON")
    monkeypatch.setenv("EVENTSITE_OUTBOX_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("EVENTSITE_WORKER_POLL_SECONDS", "0.2")
    settings = from_environment(str(tmp_path))
    assert (settings["EVENTSITE_LOG_FORMAT"], settings["OUTBOX_LEASE_SECONDS"], settings["WORKER_POLL_SECONDS"]) == (
        "json", 2.5, 0.2)
    for name, value in [("EVENTSITE_LOG_FORMAT", "xml"), ("EVENTSITE_OUTBOX_LEASE_SECONDS", "0"),
                        ("EVENTSITE_WORKER_POLL_SECONDS", "soon")]:
        with monkeypatch.context() as m:
            m.setenv(name, value)
            with pytest.raises(ConfigError, match=name):
                from_environment(str(tmp_path))


# --- /healthz: the outbox backlog --------------------------------------------------------------

def test_healthz_reports_the_due_backlog_and_its_oldest(app, client):
    assert client.get("/healthz").get_json()["outbox"] == {"due": 0, "due_capped": False, "oldest_due_seconds": 0}
    now = utcnow()
    with app.app_context():
        for key in ("old", "new", "later", "sent", "failed"):
            enqueue_email(key=key, to=f"{key}@example.org", subject=key, text=key)
        db.session.flush()
        when = {"old": now - timedelta(minutes=7), "new": now - timedelta(seconds=1), "later": now + timedelta(hours=1),
                "sent": now - timedelta(hours=2), "failed": now - timedelta(hours=3)}
        status = {"sent": OutboxStatus.SENT, "failed": OutboxStatus.FAILED}
        for key, at in when.items():
            db.session.execute(update(OutboxMessage).where(OutboxMessage.key == key)
                               .values(next_attempt_at=at, status=status.get(key, OutboxStatus.PENDING)))
        db.session.commit()
        db.session.remove()
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["outbox"]["due"] == 2 and body["outbox"]["due_capped"] is False
    assert 7 * 60 <= body["outbox"]["oldest_due_seconds"] < 7 * 60 + 30


def test_the_backlog_queries_read_only_the_outbox_index(app, ctx):
    """Both queries are answered from ix_outbox_messages_due, so /healthz stays fast on a big table."""
    engine = db.engine
    for statement in backlog_queries(utcnow()):
        sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SET enable_seqscan = off"))  # a tiny table would be scanned anyway
                plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))
            else:
                plan = "\n".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
        if engine.dialect.name == "postgresql":
            assert "using ix_outbox_messages_due" in plan and "Seq Scan" not in plan, plan
        else:
            assert "USING COVERING INDEX ix_outbox_messages_due" in plan, plan
