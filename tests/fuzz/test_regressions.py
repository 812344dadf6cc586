"""The 500s the fuzz tests found, pinned down as plain tests (each was a 500 before its fix)."""
from __future__ import annotations

from tests.conftest import csrf_from


def test_api_url_with_a_bracketed_host_that_is_no_ip_is_a_422(app, world):
    """urllib raises ValueError for https://[x]/ (it checks bracketed hosts): events/validation.py."""
    client = app.test_client()
    response = client.patch(f"/api/v1/events/{world.slug}", json={"online_url": "https://[x]/"},
                            headers={"Authorization": f"Bearer {world.api_token}"})
    assert response.status_code == 422
    assert "online_url" in response.get_json()["error"]["fields"]


def test_a_number_too_large_for_a_float_is_out_of_range_not_a_500(app, world, fuzz_organizer_client):
    """WTForms' NumberRange raised OverflowError on 10**400 (math.isnan): core.forms.NumberRange."""
    url = f"/organizer/events/{world.slug}/tickets/{world.ticket_type_id}/edit"
    csrf = csrf_from(fuzz_organizer_client.get(url).data)
    response = fuzz_organizer_client.post(url, data={"csrf_token": csrf, "name": "Standard",
                                                     "capacity": "1" + "0" * 400, "max_per_order": "5",
                                                     "price": "0"})
    assert response.status_code in (200, 422)
    assert "Enter a number from 0 to 1,000,000." in response.get_data(as_text=True)


def test_the_snapshot_sees_a_changed_row(app, world):
    """The fuzz tests' rule is only as good as their snapshot: one changed cell must show."""
    from sqlalchemy import text

    from eventsite.extensions import db
    from tests.fuzz.support import changed_tables, snapshot

    before = snapshot(app)
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE orders SET buyer_name = 'Fiona Fuzzed' WHERE buyer_name = 'Fiona Fuzz'"))
    assert changed_tables(before, snapshot(app)) == ["orders"]


def test_a_nul_in_a_path_or_a_login_email_is_a_4xx(app, world):
    """PostgreSQL cannot compare text with NUL: /tickets/<token>, /waitlist/<token> and the login
    email were 500s there (core/web.py turns such a path into a 404; accounts looks up no such email)."""
    client = app.test_client()
    for path in ("/tickets/abcdefghij\x00klmnopqrst", "/tickets/abcdefghij\x00klmnopqrst/cancel",
                 "/waitlist/abcdefghijklmnop\x00qrs"):
        assert client.get(path).status_code == 404, path
    csrf = csrf_from(client.get("/organizer/login").data)
    response = client.post("/organizer/login", data={"csrf_token": csrf, "email": "fuzz\x00@example.org",
                                                      "password": "whatever"})
    assert 400 <= response.status_code < 500


def test_odd_digits_in_numeric_query_parameters_are_a_400(app, world, fuzz_organizer_client):
    """str.isdigit() accepts "²" and 10,000 digits, which int() refuses: the registrations filter
    (`ticket_type`), the payments list (`page`) and the door's `ticket_id` were 500s."""
    client = fuzz_organizer_client
    for value in ("²", "9" * 10_000):
        assert client.get(f"/organizer/events/{world.slug}/registrations",
                          query_string={"ticket_type": value}).status_code == 400
        assert client.get(f"/organizer/events/{world.slug}/payments", query_string={"page": value}).status_code == 400
    csrf = csrf_from(client.get(f"/organizer/events/{world.slug}/checkin").data)
    response = client.post(f"/organizer/events/{world.slug}/checkin/scan", data={"csrf_token": csrf, "ticket_id": "²"})
    assert response.status_code < 500
