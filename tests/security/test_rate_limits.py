"""Abuse limits: login, registration, "send my ticket again", password reset, introduction requests
and the API are rate-limited; the counters live in Redis when EVENTSITE_REDIS_URL is set (shared by
every process), in memory otherwise.

The Redis tests use the real server at EVENTSITE_TEST_REDIS_URL (default redis://127.0.0.1:6379/15),
a key prefix of their own, and delete their keys after. Without Redis they are reported as not run,
unless EVENTSITE_REQUIRE_REDIS=1 (then they fail).
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from eventsite.config import from_environment
from tests.conftest import csrf_from, rate_limited_app

REDIS_URL = os.environ.get("EVENTSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]

# Every endpoint that must be rate-limited, and the config setting holding its limit.
LIMITED = {
    "accounts.login": "LOGIN_RATE_LIMIT",
    "accounts.forgot_password": "PASSWORD_RESET_RATE_LIMIT",
    "accounts.reset_password": "LOGIN_RATE_LIMIT",
    "registration.register": "REGISTRATION_RATE_LIMIT",
    "registration.resend": "RESEND_RATE_LIMIT",
    "waitlist.join": "WAITLIST_RATE_LIMIT",
    "connections.request_introduction": "INTRODUCTION_RATE_LIMIT",
    "connections.accept_introduction": "INTRODUCTION_RATE_LIMIT",
}


# --- which store ---------------------------------------------------------------------------------

def test_redis_is_the_store_when_configured_and_memory_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv("EVENTSITE_REDIS_URL", raising=False)
    monkeypatch.delenv("EVENTSITE_RATE_LIMITS", raising=False)
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    settings = from_environment(str(tmp_path))
    assert settings["RATELIMIT_STORAGE_URI"] == "memory://" and settings["RATELIMIT_ENABLED"] is True
    monkeypatch.setenv("EVENTSITE_REDIS_URL", "redis://127.0.0.1:6379/3")
    assert from_environment(str(tmp_path))["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/3"
    monkeypatch.setenv("EVENTSITE_RATE_LIMITS", "off")
    assert from_environment(str(tmp_path))["RATELIMIT_ENABLED"] is False


def test_every_abuse_prone_endpoint_has_a_limit(limited_app):
    from flask_limiter.util import get_qualified_name

    from eventsite.extensions import limiter

    manager = limiter.limit_manager
    with limited_app.test_request_context("/", method="POST"):
        for endpoint, setting in LIMITED.items():
            view = limited_app.view_functions[endpoint]
            assert manager.decorated_limits(get_qualified_name(view)), f"{endpoint} has no rate limit"
            assert limited_app.config[setting]
        assert manager.blueprint_limits(limited_app, "api"), "the API blueprint has no rate limit"


# --- the API -------------------------------------------------------------------------------------

@pytest.fixture
def api_limited(app):
    with rate_limited_app(app, API_RATE_LIMIT="5 per minute", API_AUTH_FAILURE_RATE_LIMIT="3 per minute") as limited:
        yield limited


def _api_tokens(app, organizer) -> tuple[str, str]:
    from eventsite.accounts.models import User
    from eventsite.accounts.services import create_api_token
    from eventsite.extensions import db

    with app.app_context():
        user = db.session.get(User, organizer["id"])
        tokens = create_api_token(user, "one")[1], create_api_token(user, "two")[1]
        db.session.commit()
        db.session.remove()
    return tokens


def test_the_api_is_limited_per_token(api_limited, organizer):
    first, second = _api_tokens(api_limited, organizer)
    client = api_limited.test_client()
    env = {"REMOTE_ADDR": "198.51.100.30"}
    for _ in range(5):
        assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {first}"}, environ_base=env).status_code == 200
    blocked = client.get("/api/v1/events", headers={"Authorization": f"Bearer {first}"}, environ_base=env)
    assert blocked.status_code == 429
    assert blocked.is_json and blocked.json["error"]["code"] == "too_many_requests"
    assert "Retry-After" in blocked.headers
    # Another token (another program) from the same address has its own allowance.
    assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {second}"}, environ_base=env).status_code == 200


def test_wrong_api_tokens_are_limited_per_address(api_limited, organizer):
    good, _ = _api_tokens(api_limited, organizer)
    client = api_limited.test_client()
    guesser = {"REMOTE_ADDR": "192.0.2.66"}
    for i in range(3):
        answer = client.get("/api/v1/events", headers={"Authorization": f"Bearer evs_guess{i}"}, environ_base=guesser)
        assert answer.status_code == 401
    # Locked out, even with a right token, while the window lasts; other addresses are not.
    assert client.get("/api/v1/events", headers={"Authorization": "Bearer evs_guess9"}, environ_base=guesser).status_code == 429
    assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {good}"}, environ_base=guesser).status_code == 429
    assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {good}"},
                      environ_base={"REMOTE_ADDR": "192.0.2.67"}).status_code == 200


def test_successful_api_calls_do_not_count_as_failures(api_limited, organizer):
    good, second = _api_tokens(api_limited, organizer)
    client = api_limited.test_client()
    env = {"REMOTE_ADDR": "192.0.2.80"}
    for token in (good, good, good, good, second, second):
        assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"}, environ_base=env).status_code == 200


# --- introduction requests -----------------------------------------------------------------------

def test_introduction_requests_and_answers_are_limited_per_address(app):
    with rate_limited_app(app, INTRODUCTION_RATE_LIMIT="3 per minute") as limited:
        client = limited.test_client()
        env = {"REMOTE_ADDR": "203.0.113.40"}
        token = csrf_from(client.get("/organizer/login", environ_base=env).data)
        for kind in ("introduce", "accept"):
            for i in range(3):
                answer = client.post(f"/keep-in-touch/{kind}/not-a-real-link-{i}", data={"csrf_token": token},
                                     environ_base=env)
                assert answer.status_code == 404, (kind, i)  # counted even when the link is bad
            blocked = client.post(f"/keep-in-touch/{kind}/not-a-real-link", data={"csrf_token": token}, environ_base=env)
            assert blocked.status_code == 429 and b"Too many attempts" in blocked.data
            # Reading the page behind a link is never limited.
            assert client.get(f"/keep-in-touch/{kind}/not-a-real-link", environ_base=env).status_code == 404


# --- Redis: two processes share one count ----------------------------------------------------------

@pytest.fixture
def redis_url():
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure means "no Redis here"
        reason = f"Redis at {REDIS_URL} does not answer ({e.__class__.__name__})"
        if os.environ.get("EVENTSITE_REQUIRE_REDIS") == "1":
            pytest.fail(reason + " and EVENTSITE_REQUIRE_REDIS=1")
        pytest.skip(reason)
    prefix = f"eventsite-test-{os.getpid()}-{secrets.token_hex(4)}"
    yield REDIS_URL, prefix, client
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


def _probe(app, tmp_path, attempts: int, *, redis: str | None, prefix: str) -> list[int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTSITE_", "STRIPE_", "DATABASE_URL"))}
    env.update(EVENTSITE_INSTANCE_PATH=str(tmp_path), DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               SECRET_KEY=app.config["SECRET_KEY"], EVENTSITE_MAIL_URL=app.config["EVENTSITE_MAIL_URL"])
    if redis:
        env["EVENTSITE_REDIS_URL"] = redis
    settings = {"RATELIMIT_KEY_PREFIX": prefix, "LOGIN_RATE_LIMIT": "4 per minute",
                "PASSWORD_HASH_PARAMS": {"time_cost": 1, "memory_cost": 8192, "parallelism": 1}}
    done = subprocess.run([sys.executable, "-m", "tests.security.limiter_probe", json.dumps(settings), str(attempts)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_app_processes_share_the_login_count_in_redis_and_not_in_memory(app, tmp_path, redis_url):
    url, prefix, client = redis_url
    assert _probe(app, tmp_path, 3, redis=url, prefix=prefix) == [401, 401, 401]
    assert any(prefix in k.decode() for k in client.scan_iter(match=f"*{prefix}*")), "no counter in Redis"
    # The second process continues the first one's count (limit 4 per minute): its 2nd attempt is the 5th.
    assert _probe(app, tmp_path, 2, redis=url, prefix=prefix) == [401, 429]
    # Without EVENTSITE_REDIS_URL a process counts on its own, from zero.
    assert _probe(app, tmp_path, 2, redis=None, prefix=prefix) == [401, 401]


def _app_with_dead_redis(app):
    """Like tests.conftest.rate_limited_app, with the limiter's store at a port where nothing listens."""
    from eventsite import create_app
    from eventsite.config import TestConfig
    from eventsite.extensions import db, limiter

    settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    settings.update(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="redis://127.0.0.1:9/0",
                    LOGIN_RATE_LIMIT="3 per minute", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                    EVENTSITE_MAIL_URL=app.config["EVENTSITE_MAIL_URL"], SECRET_KEY=app.config["SECRET_KEY"])
    return create_app(settings), limiter, db


def test_limits_hold_in_memory_while_redis_is_down(app):
    """A Redis outage neither breaks login (no 500) nor lifts the limits: each process counts in
    memory until Redis answers again."""
    assert app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is True
    from eventsite.extensions import limiter

    was_enabled = limiter.enabled  # the limiter is one object: create_app() below switches it on
    limited, limiter, db = _app_with_dead_redis(app)
    try:
        client = limited.test_client()
        env = {"REMOTE_ADDR": "203.0.113.90"}
        answers = []
        for i in range(4):
            token = csrf_from(client.get("/organizer/login", environ_base=env).data)
            answers.append(client.post("/organizer/login", environ_base=env, data={
                "csrf_token": token, "email": f"down{i}@example.org", "password": "wrong guess"}).status_code)
        assert answers == [401, 401, 401, 429]
    finally:
        limiter.enabled = was_enabled
        with limited.app_context():
            db.session.remove()
            db.engine.dispose()
