"""Login is rate-limited per client address and per email, with a friendly 429 page."""
from __future__ import annotations

from tests.conftest import csrf_from


def _attempt(client, email: str, password: str, addr: str = "203.0.113.7"):
    env = {"REMOTE_ADDR": addr}
    page = client.get("/organizer/login", environ_base=env)
    assert page.status_code == 200  # showing the form is never limited
    return client.post("/organizer/login", environ_base=env,
                       data={"csrf_token": csrf_from(page.data), "email": email, "password": password})


def test_eleventh_attempt_from_one_address_gets_429(limited_app, organizer):
    assert limited_app.config["LOGIN_RATE_LIMIT"].startswith("10 per minute")
    client = limited_app.test_client()
    for i in range(10):
        response = _attempt(client, f"guess{i}@example.org", "wrong password")
        assert response.status_code == 401, (i, response.status_code)
    blocked = _attempt(client, organizer["email"], organizer["password"])  # even the right password waits
    assert blocked.status_code == 429
    assert b"Too many attempts" in blocked.data and b"Slow down" in blocked.data
    assert b"<h1>" in blocked.data  # the site's friendly page, not a bare error
    assert client.get("/organizer/settings", environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code == 302

    # Someone at another address is not affected.
    other = limited_app.test_client()
    ok = _attempt(other, organizer["email"], organizer["password"], addr="198.51.100.20")
    assert ok.status_code == 303


def test_one_email_is_limited_across_addresses(limited_app, organizer):
    client = limited_app.test_client()
    for i in range(10):
        response = _attempt(client, organizer["email"], "wrong password", addr=f"192.0.2.{i + 1}")
        assert response.status_code == 401
    blocked = _attempt(client, organizer["email"], organizer["password"], addr="192.0.2.200")
    assert blocked.status_code == 429
    assert b"Too many attempts" in blocked.data
    # Another account from a fresh address still logs in.
    from eventsite.extensions import db
    from tests.factories import make_organizer

    with limited_app.app_context():
        make_organizer("colleague@example.org")
        db.session.remove()
    assert _attempt(client, "colleague@example.org", "correct horse battery", addr="192.0.2.201").status_code == 303


def test_successful_logins_do_not_use_up_the_per_email_allowance(limited_app, organizer):
    for i in range(12):
        client = limited_app.test_client()
        response = _attempt(client, organizer["email"], organizer["password"], addr=f"198.18.0.{i + 1}")
        assert response.status_code == 303, i
