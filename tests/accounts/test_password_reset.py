"""Password reset by email: "Forgot password?" on the login page, one answer for every email, a signed
link that expires, works once and dies when the password changes, and is rate-limited."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from eventsite.accounts import password_reset
from eventsite.accounts.models import User
from eventsite.core.db import utcnow
from eventsite.core.mail.models import OutboxMessage
from eventsite.extensions import db
from tests.conftest import csrf_from, login, post_form

RESET_RE = re.compile(r"http://eventsite\.test/organizer/password/reset/([A-Za-z0-9_.\-]+)")
NEW_PASSWORD = "a brand new passphrase"


def _deliver(app) -> int:
    from eventsite.core.mail.worker import deliver_due

    with app.app_context():
        sent = deliver_due()
        db.session.remove()
        return sent


def _ask(client, email: str, addr: str = "203.0.113.9"):
    env = {"REMOTE_ADDR": addr}
    page = client.get("/organizer/password/forgot", environ_base=env)
    assert page.status_code == 200
    return client.post("/organizer/password/forgot", environ_base=env,
                       data={"csrf_token": csrf_from(page.data), "email": email})


def _without_csrf(html: bytes) -> str:
    return re.sub(r'name="csrf_token"[^>]*', "", html.decode())


def _link_from(mailbox, email: str) -> str:
    [mail] = mailbox.to(email)
    text = mail.message.get_body(("plain",)).get_content()
    m = RESET_RE.search(text)
    assert m, text
    html = mail.message.get_body(("html",)).get_content()
    assert m.group(0) in html
    return m.group(1)


def _token_for(app, email: str, **kw) -> str:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        token = password_reset.make_reset_token(user, **kw)
        db.session.remove()
        return token


def _reset(client, token: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    url = f"/organizer/password/reset/{token}"
    return post_form(client, url, {"new_password": password, "confirm_password": confirm or password})


def test_login_page_links_to_forgot_password(client):
    page = client.get("/organizer/login").get_data(as_text=True)
    assert 'href="/organizer/password/forgot"' in page and "Forgot password?" in page


def test_a_forgotten_password_is_reset_by_the_emailed_link(app, client, organizer, mailbox):
    logged_in_elsewhere = app.test_client()
    login(logged_in_elsewhere, organizer["email"])
    assert logged_in_elsewhere.get("/organizer/settings").status_code == 200

    answer = _ask(client, "  OWNER@example.org ")
    assert answer.status_code == 200
    assert b"If an account uses that email" in answer.data
    assert _deliver(app) == 1
    token = _link_from(mailbox, organizer["email"])
    [mail] = mailbox.to(organizer["email"])
    assert mail.message["Subject"] == "Reset your eventsite password"

    page = client.get(f"/organizer/password/reset/{token}")
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    assert organizer["email"] in page.get_data(as_text=True)

    # The password rules are the same as elsewhere; a refused form changes nothing.
    assert _reset(client, token, "short").status_code == 422
    differ = _reset(client, token, NEW_PASSWORD, "something else entirely")
    assert differ.status_code == 422 and b"The two passwords differ." in differ.data

    done = _reset(client, token)
    assert done.status_code == 303 and done.headers["Location"].endswith("/organizer/login")
    assert b"Your password is changed" in client.get("/organizer/login").data

    # Every older session ended; the old password no longer works; the new one does.
    assert logged_in_elsewhere.get("/organizer/settings").status_code == 302
    assert post_form(app.test_client(), "/organizer/login",
                     {"email": organizer["email"], "password": organizer["password"]}).status_code == 401
    login(app.test_client(), organizer["email"], NEW_PASSWORD)

    # The link worked once.
    again = client.get(f"/organizer/password/reset/{token}")
    assert again.status_code == 410 and b"already used" in again.data
    assert b'href="/organizer/password/forgot"' in again.data


def test_the_same_answer_for_unknown_and_inactive_accounts_and_no_email(app, client, organizer, mailbox):
    with app.app_context():
        from tests.factories import make_organizer

        make_organizer("gone@example.org").active = False
        db.session.commit()
        db.session.remove()
    known = _ask(client, organizer["email"], addr="192.0.2.1")
    unknown = _ask(client, "nobody@example.org", addr="192.0.2.2")
    inactive = _ask(client, "gone@example.org", addr="192.0.2.3")
    assert known.status_code == unknown.status_code == inactive.status_code == 200
    assert _without_csrf(known.data) == _without_csrf(unknown.data) == _without_csrf(inactive.data)
    _deliver(app)
    assert len(mailbox.to(organizer["email"])) == 1
    assert mailbox.to("nobody@example.org") == [] and mailbox.to("gone@example.org") == []


def test_bad_input_gets_a_clear_answer(client):
    bad = _ask(client, "not an email")
    assert bad.status_code == 422 and b"Please correct" in bad.data
    no_csrf = client.post("/organizer/password/forgot", data={"email": "owner@example.org"})
    assert no_csrf.status_code == 400
    for token in ("x", "Z" * 40, "a" * 500, "WzEsMiwiYSJd.bad-signature"):
        assert client.get(f"/organizer/password/reset/{token}").status_code == 404


def test_the_reset_form_needs_its_csrf_token(app, client, organizer):
    token = _token_for(app, organizer["email"])
    refused = client.post(f"/organizer/password/reset/{token}",
                          data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert refused.status_code == 400
    login(app.test_client(), organizer["email"], organizer["password"])  # unchanged


def test_the_link_expires(app, client, organizer):
    assert app.config["PASSWORD_RESET_MAX_AGE"] == timedelta(hours=1)
    fresh = _token_for(app, organizer["email"], now=utcnow() - timedelta(minutes=59))
    old = _token_for(app, organizer["email"], now=utcnow() - timedelta(minutes=61))
    assert client.get(f"/organizer/password/reset/{fresh}").status_code == 200
    expired = client.get(f"/organizer/password/reset/{old}")
    assert expired.status_code == 410 and b"expired" in expired.data
    assert _reset(app.test_client(), fresh).status_code == 303


def test_a_password_change_invalidates_outstanding_links(app, organizer_client, organizer, client):
    token = _token_for(app, organizer["email"])
    changed = post_form(organizer_client, "/organizer/settings/password",
                        {"current_password": organizer["password"], "new_password": "changed in settings",
                         "confirm_password": "changed in settings"}, form_url="/organizer/settings")
    assert changed.status_code == 303
    assert client.get(f"/organizer/password/reset/{token}").status_code == 410


def test_two_links_one_use_invalidates_the_other(app, organizer, client):
    first = _token_for(app, organizer["email"], now=utcnow() - timedelta(minutes=5))
    second = _token_for(app, organizer["email"])
    assert _reset(client, second).status_code == 303
    assert client.get(f"/organizer/password/reset/{first}").status_code == 410


def test_a_link_of_another_purpose_or_key_is_refused(app, organizer, client):
    from itsdangerous import URLSafeSerializer

    with app.app_context():
        user = db.session.get(User, organizer["id"])
        payload = [int(utcnow().timestamp()), user.id, password_reset.fingerprint(user)]
        other_salt = URLSafeSerializer(app.config["SECRET_KEY"], salt="eventsite.connections.introduce").dumps(payload)
        other_key = URLSafeSerializer("not the secret key", salt=password_reset.SALT).dumps(payload)
        db.session.remove()
    assert client.get(f"/organizer/password/reset/{other_salt}").status_code == 404
    assert client.get(f"/organizer/password/reset/{other_key}").status_code == 404


def test_asking_is_rate_limited_per_address_and_per_email(limited_app, organizer):
    client = limited_app.test_client()
    assert limited_app.config["PASSWORD_RESET_RATE_LIMIT"] == "5 per hour"
    for i in range(5):
        assert _ask(client, f"someone{i}@example.org", addr="198.51.100.7").status_code == 200
    blocked = _ask(client, "someone-else@example.org", addr="198.51.100.7")
    assert blocked.status_code == 429 and b"Too many attempts" in blocked.data

    for i in range(3):  # one email, from several addresses: same answer known or unknown, then 429
        assert _ask(client, organizer["email"], addr=f"192.0.2.{10 + i}").status_code == 200
        assert _ask(client, "unknown@example.org", addr=f"192.0.2.{20 + i}").status_code == 200
    assert _ask(client, organizer["email"], addr="192.0.2.99").status_code == 429
    assert _ask(client, "unknown@example.org", addr="192.0.2.98").status_code == 429
    with limited_app.app_context():
        queued = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                   .where(OutboxMessage.key.like("password-reset:%")))
        db.session.remove()
    assert 1 <= queued <= 4  # at most one per allowed request for her address (same second: one)
