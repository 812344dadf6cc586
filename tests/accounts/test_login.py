"""Login, logout, sessions and password storage, driven through the pages."""
from __future__ import annotations

from sqlalchemy import select

from eventsite.accounts.models import User
from eventsite.extensions import db
from tests.conftest import csrf_from, login, post_form
from tests.factories import make_organizer

GENERIC = b"Email or password is incorrect."


def _error_block(html: bytes) -> bytes:
    start = html.index(b'class="form-errors"')
    return html[start:html.index(b"</div>", start)]


def test_login_page_has_labelled_fields(client):
    page = client.get("/organizer/login")
    assert page.status_code == 200
    html = page.data.decode()
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html
    assert 'name="next"' in html and 'name="csrf_token"' in html


def test_login_success_redirects_to_dashboard_and_opens_organizer_pages(client, organizer):
    response = post_form(client, "/organizer/login", {"email": organizer["email"], "password": organizer["password"]})
    assert response.status_code in (302, 303)
    assert response.headers["Location"].endswith("/organizer/")
    settings = client.get("/organizer/settings")
    assert settings.status_code == 200
    assert organizer["email"].encode() in settings.data


def test_login_email_is_case_insensitive(client, organizer):
    response = post_form(client, "/organizer/login", {"email": "  OWNER@Example.ORG ", "password": organizer["password"]})
    assert response.status_code == 303


def test_wrong_password_and_unknown_email_get_the_same_generic_error(client, organizer):
    wrong = post_form(client, "/organizer/login", {"email": organizer["email"], "password": "not the password"})
    unknown = post_form(client, "/organizer/login", {"email": "nobody@example.org", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert GENERIC in wrong.data and GENERIC in unknown.data
    assert _error_block(wrong.data) == _error_block(unknown.data)
    for page in (wrong.data, unknown.data):
        assert b"no account" not in page.lower() and b"not registered" not in page.lower()
    # Nothing was logged in.
    assert client.get("/organizer/settings").status_code == 302


def test_inactive_account_gets_the_generic_error(app, client, organizer):
    with app.app_context():
        db.session.get(User, organizer["id"]).active = False
        db.session.commit()
    response = post_form(client, "/organizer/login", {"email": organizer["email"], "password": organizer["password"]})
    assert response.status_code == 401
    assert GENERIC in response.data


def test_empty_fields_are_explained_next_to_them(client):
    response = post_form(client, "/organizer/login", {"email": "", "password": ""})
    assert response.status_code == 422
    html = response.data.decode()
    assert 'id="email-error"' in html and "Enter your email." in html
    assert 'id="password-error"' in html and "Enter your password." in html


def test_organizer_pages_redirect_to_login_with_a_friendly_message(client, organizer):
    response = client.get("/organizer/settings")
    assert response.status_code == 302
    assert response.headers["Location"] == "/organizer/login?next=%2Forganizer%2Fsettings"
    page = client.get(response.headers["Location"])
    assert b"Please log in to see that page." in page.data
    assert b'value="/organizer/settings"' in page.data
    # Logging in from there goes back to the page she wanted.
    back = client.post("/organizer/login", data={"csrf_token": csrf_from(page.data), "email": organizer["email"],
                                                  "password": organizer["password"], "next": "/organizer/settings"})
    assert back.headers["Location"] == "/organizer/settings"


def test_next_never_leaves_the_site(app, organizer):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
                   "http:/evil.example", "/organizer/\r\nLocation: https://evil.example"):
        client = app.test_client()
        page = client.get("/organizer/login")
        response = client.post("/organizer/login", data={
            "csrf_token": csrf_from(page.data), "email": organizer["email"], "password": organizer["password"],
            "next": target})
        assert response.status_code == 303, target
        assert response.headers["Location"] == "/organizer/", target


def test_login_starts_a_fresh_session(client, organizer):
    client.get("/organizer/login")
    with client.session_transaction() as s:
        s["planted"] = "by someone else"
        before_csrf = s.get("csrf_token")
    assert before_csrf
    login(client, organizer["email"], organizer["password"])
    with client.session_transaction() as s:
        assert "planted" not in s
        assert s.get("csrf_token") != before_csrf
        assert s["_user_id"].startswith(f"{organizer['id']}:")


def test_session_cookie_is_httponly_and_samesite(client, organizer):
    page = client.get("/organizer/login")
    response = client.post("/organizer/login", data={"csrf_token": csrf_from(page.data),
                                                      "email": organizer["email"], "password": organizer["password"]})
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    assert "HttpOnly" in cookies[-1]
    assert "SameSite=Lax" in cookies[-1]


def test_cookies_are_secure_in_production(monkeypatch, tmp_path):
    from eventsite.config import from_environment

    monkeypatch.setenv("EVENTSITE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("EVENTSITE_BASE_URL", "https://events.example.org")
    settings = from_environment(str(tmp_path))
    assert settings["SESSION_COOKIE_SECURE"] is True and settings["REMEMBER_COOKIE_SECURE"] is True


def test_logout_needs_post_with_csrf(organizer_client):
    assert organizer_client.get("/organizer/logout").status_code == 405
    no_token = organizer_client.post("/organizer/logout")
    assert no_token.status_code == 400
    assert b"This form has expired" in no_token.data
    assert organizer_client.get("/organizer/settings").status_code == 200  # still logged in

    page = organizer_client.get("/organizer/settings")
    response = organizer_client.post("/organizer/logout", data={"csrf_token": csrf_from(page.data)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/organizer/login"
    assert b"You are logged out." in organizer_client.get("/organizer/login").data
    assert organizer_client.get("/organizer/settings").status_code == 302


def test_password_is_stored_as_argon2id_never_in_plain(app, organizer):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == organizer["email"]))
        assert user.password_hash.startswith("$argon2id$")
        assert organizer["password"] not in user.password_hash
        # Nowhere else in the row either.
        row = db.session.execute(select(User.__table__).where(User.id == user.id)).one()
        assert all(organizer["password"] not in str(value) for value in row)


def test_session_of_a_deleted_or_deactivated_user_ends(app, organizer_client, organizer):
    assert organizer_client.get("/organizer/settings").status_code == 200
    with app.app_context():
        db.session.get(User, organizer["id"]).active = False
        db.session.commit()
    assert organizer_client.get("/organizer/settings").status_code == 302


def test_already_logged_in_visitor_of_the_login_page_goes_on(organizer_client):
    response = organizer_client.get("/organizer/login?next=/organizer/team")
    assert response.status_code == 302
    assert response.headers["Location"] == "/organizer/team"


def test_a_second_organizer_can_log_in_independently(app, client):
    with app.app_context():
        make_organizer("second@example.org", name="Sam Second")
    login(client, "second@example.org")
    assert b"second@example.org" in client.get("/organizer/settings").data
