"""Registration and "send my ticket again" are rate-limited, with the site's friendly 429 page."""
from __future__ import annotations

import pytest

from tests.conftest import csrf_from, rate_limited_app
from tests.factories import make_event, make_ticket_type
from tests.registration.views_helpers import counts, html_of, in_app, text_of


@pytest.fixture
def limited_app(app):
    """Small limits so the test stays quick."""
    with rate_limited_app(app, REGISTRATION_RATE_LIMIT="4 per minute", RESEND_RATE_LIMIT="5 per hour",
                          RESEND_EMAIL_RATE_LIMIT="3 per hour") as limited:
        yield limited


@pytest.fixture
def seat(limited_app, organizer):
    def make():
        e = make_event(organizer["organization_id"], slug="limited")
        return make_ticket_type(e, name="Seat", capacity=50).id
    return in_app(limited_app, make)


def _post(client, path: str, data: dict, addr: str):
    env = {"REMOTE_ADDR": addr}
    page = client.get("/events/limited", environ_base=env)
    assert page.status_code == 200  # showing the page is never limited
    return client.post(path, data={"csrf_token": csrf_from(page.data), **data}, environ_base=env)


def test_registration_posts_are_limited_per_client_address(limited_app, seat):
    client = limited_app.test_client()
    for i in range(4):
        response = _post(client, "/events/limited/register",
                         {"name": f"Person {i}", "email": f"p{i}@example.org", f"quantity-{seat}": "1"}, "203.0.113.9")
        assert response.status_code == 303, i
    blocked = _post(client, "/events/limited/register",
                    {"name": "Person 5", "email": "p5@example.org", f"quantity-{seat}": "1"}, "203.0.113.9")
    assert blocked.status_code == 429
    assert "Slow down" in text_of(html_of(blocked)) and "Too many attempts" in text_of(html_of(blocked))
    assert counts(limited_app)["orders"] == 4  # the refused one wrote nothing
    other = limited_app.test_client()
    ok = _post(other, "/events/limited/register",
               {"name": "Person 6", "email": "p6@example.org", f"quantity-{seat}": "1"}, "198.51.100.4")
    assert ok.status_code == 303


def test_resend_is_limited_per_address_and_per_email(limited_app, seat):
    client = limited_app.test_client()
    for i in range(5):
        response = _post(client, "/events/limited/resend", {"email": f"who{i}@example.org"}, "203.0.113.10")
        assert response.status_code == 200
    blocked = _post(client, "/events/limited/resend", {"email": "who9@example.org"}, "203.0.113.10")
    assert blocked.status_code == 429 and "Slow down" in text_of(html_of(blocked))

    # One address asked about from many places: three times an hour.
    for i in range(3):
        response = _post(client, "/events/limited/resend", {"email": "Dana@example.org"}, f"192.0.2.{i + 1}")
        assert response.status_code == 200, i
    again = _post(client, "/events/limited/resend", {"email": " dana@EXAMPLE.org "}, "192.0.2.50")
    assert again.status_code == 429
