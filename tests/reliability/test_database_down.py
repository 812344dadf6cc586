"""The database cannot be reached at all (a restart, a network cut): every request gets a clean 503,
never a 500, and /healthz says so (both databases)."""
from __future__ import annotations

import pytest

from eventsite import create_app
from eventsite.config import TestConfig
from eventsite.extensions import db
from tests.conftest import DATABASE_KIND, free_port


@pytest.fixture
def unreachable_app(app, tmp_path):
    if DATABASE_KIND == "postgres":
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone?connect_timeout=3"
    else:
        url = "sqlite:///" + str(tmp_path / "no-such-directory" / "eventsite.sqlite3")
    settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    settings.update(SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=app.config["SECRET_KEY"],
                    EVENTSITE_MAIL_URL=app.config["EVENTSITE_MAIL_URL"])
    down = create_app(settings)
    yield down
    with down.app_context():
        db.engine.dispose()


def test_pages_and_the_api_answer_503_when_the_database_is_down(unreachable_app):
    client = unreachable_app.test_client()
    page = client.get("/events/leadership-evening")
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    html = page.get_data(as_text=True)
    assert "Back in a moment" in html and "We could not reach our database" in html and 'href="/events/leadership-evening"' in html

    api = client.get("/api/v1/events", headers={"Authorization": "Bearer evs_whatever"})
    assert api.status_code == 503 and api.get_json()["error"]["code"] == "database_unavailable"

    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json() == {"status": "error", "database": "unavailable"}
