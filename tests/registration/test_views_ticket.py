"""The attendee's private ticket page /tickets/<token>: what it shows, its QR images and calendar
file, renaming an attendee, cancelling a ticket or the whole order (with a confirmation step)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from eventsite.core.mail.worker import deliver_due
from eventsite.extensions import db
from eventsite.registration.services import register_attendees
from tests.conftest import csrf_from
from tests.factories import make_event, make_ticket_type
from tests.registration.helpers import decode_qr_png
from tests.registration.views_helpers import (
    attribute,
    control,
    field_error,
    html_of,
    in_app,
    input_value,
    orders,
    sold,
    text_of,
)

STARTS = datetime(2031, 11, 20, 17, 0, tzinfo=timezone.utc)  # 18:00 CET in Berlin, 12:00 in New York
ENDS = datetime(2031, 11, 20, 20, 0, tzinfo=timezone.utc)


@pytest.fixture
def booked(app, organizer):
    """An order of three tickets (Dana's, Eli's, Fatima's) for a Berlin evening; another order too."""
    def make():
        e = make_event(organizer["organization_id"], slug="gala", title="Winter Gala", starts_at=STARTS,
                       ends_at=ENDS, timezone="Europe/Berlin", venue_name="Kulturhaus Mitte")
        tt = make_ticket_type(e, name="Table seat", capacity=20)
        order = register_attendees(e, buyer_name="Dana Okafor", buyer_email="dana@example.org",
                                   quantities={tt.id: 3},
                                   attendees=[{"name": "Eli Chen"}, {"name": "Fatima Noor"}])
        other = register_attendees(e, buyer_name="Someone Else", buyer_email="else@example.org",
                                   quantities={tt.id: 1})
        db.session.commit()
        return {"token": order.token, "code": order.code, "secrets": [t.secret for t in order.tickets],
                "other_token": other.token, "other_secret": other.tickets[0].secret, "type": tt.id}
    return in_app(app, make)


def _page(client, token):
    response = client.get(f"/tickets/{token}")
    assert response.status_code == 200
    return response, html_of(response)


def test_the_ticket_page_shows_every_ticket_with_its_qr_code(client, booked):
    response, html = _page(client, booked["token"])
    text = text_of(html)
    assert "Winter Gala" in text and booked["code"] in text
    assert "Thu 20 Nov 2031, 18:00–21:00 CET" in text and "Europe/Berlin" in text and "Kulturhaus Mitte" in text
    for n, name in enumerate(["Dana Okafor", "Eli Chen", "Fatima Noor"], start=1):
        assert f"Ticket {n} of 3: {name}" in text
    assert text.count("Table seat") == 3 and text.count("Valid") == 3
    assert len(re.findall(r'<svg [^>]*class="qr"', html)) == 3
    for secret in booked["secrets"]:
        assert f'href="/tickets/{booked["token"]}/qr/{secret}.png"' in html
    assert f'href="/tickets/{booked["token"]}.ics"' in html
    assert booked["other_secret"] not in html
    # A private page: not cached, not indexed, no Referer to other sites.
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert '<meta name="robots" content="noindex, nofollow">' in html


def test_each_qr_png_decodes_to_its_secret_and_only_under_its_own_order(client, booked):
    for secret in booked["secrets"]:
        response = client.get(f"/tickets/{booked['token']}/qr/{secret}.png")
        assert response.status_code == 200 and response.mimetype == "image/png"
        assert response.headers["Cache-Control"] == "no-store"
        assert decode_qr_png(response.data) == [secret]
    foreign = client.get(f"/tickets/{booked['token']}/qr/{booked['other_secret']}.png")
    assert foreign.status_code == 404 and "Page not found" in text_of(html_of(foreign))
    assert client.get(f"/tickets/{booked['token']}/qr/AAAAAAAAAAAAAAAAAAAAAAAAAA.png").status_code == 404
    assert client.get(f"/tickets/{booked['other_token']}/qr/{booked['secrets'][0]}.png").status_code == 404


def test_calendar_file_and_unknown_tokens(client, booked):
    ics = client.get(f"/tickets/{booked['token']}.ics")
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    assert ics.headers["Content-Disposition"] == 'attachment; filename="gala.ics"'
    assert b"DTSTART;TZID=Europe/Berlin:20311120T180000" in ics.data and b"SUMMARY:Winter Gala" in ics.data
    tampered = booked["token"][:-1] + ("2" if booked["token"][-1] != "2" else "3")  # one character off
    for token in ("ABCDEFGHJKLMNPQRSTUVWXYZ23", tampered, "short", "x" * 80):
        response = client.get(f"/tickets/{token}")
        assert response.status_code == 404 and "Page not found" in text_of(html_of(response))
    assert client.get("/tickets/ABCDEFGHJKLMNPQRSTUVWXYZ23.ics").status_code == 404


def test_renaming_an_attendee(app, client, booked):
    _, html = _page(client, booked["token"])
    assert input_value(html, "name") == "Dana Okafor"  # the first ticket's form, pre-filled
    assert 'id="ticket-2-name"' in html and 'for="ticket-2-name"' in html
    response = client.post(f"/tickets/{booked['token']}/2/rename",
                           data={"csrf_token": csrf_from(html), "name": "  Grace Hopper ",
                                 "email": "grace@example.org"})
    assert response.status_code == 303 and response.headers["Location"] == f"/tickets/{booked['token']}"
    tickets = orders(app)[0]["tickets"]
    assert [(t["name"], t["email"]) for t in tickets][1] == ("Grace Hopper", "grace@example.org")
    _, html = _page(client, booked["token"])
    assert "Ticket 2 of 3: Grace Hopper" in text_of(html)
    assert "Ticket 2 is now in the name of Grace Hopper." in text_of(html)

    bad = client.post(f"/tickets/{booked['token']}/2/rename",
                      data={"csrf_token": csrf_from(html), "name": "Mallory\r\nBcc: x@example.org", "email": "nope"})
    bad_html = html_of(bad)
    assert bad.status_code == 422
    assert "no line breaks" in field_error(bad_html, "ticket-2-name")
    assert field_error(bad_html, "ticket-2-email").startswith("Enter a valid email address")
    assert "ticket-2-name-error" in attribute(control(bad_html, "ticket-2-name"), "aria-describedby")
    assert re.search(r'<details class="rename" open>\s*<summary>', bad_html)
    assert input_value(bad_html, "name") == "Dana Okafor"  # the other tickets' forms keep their own values
    assert orders(app)[0]["tickets"][1]["name"] == "Grace Hopper"
    assert client.post(f"/tickets/{booked['token']}/9/rename",
                       data={"csrf_token": csrf_from(html), "name": "X"}).status_code == 404
    no_token = client.post(f"/tickets/{booked['token']}/2/rename", data={"name": "Someone"})
    assert no_token.status_code == 400 and orders(app)[0]["tickets"][1]["name"] == "Grace Hopper"


def test_cancelling_one_ticket_asks_first_then_gives_the_seat_back(app, client, booked, mailbox):
    assert sold(app, booked["type"]) == (4, 4)
    confirm = client.get(f"/tickets/{booked['token']}/2/cancel")
    html = html_of(confirm)
    assert confirm.status_code == 200 and "Cancel ticket 2?" in text_of(html) and "Eli Chen" in text_of(html)
    assert confirm.headers["Cache-Control"] == "no-store"
    assert sold(app, booked["type"]) == (4, 4)  # a GET changes nothing
    response = client.post(f"/tickets/{booked['token']}/2/cancel", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 303
    assert [t["status"] for t in orders(app)[0]["tickets"]] == ["valid", "cancelled", "valid"]
    assert sold(app, booked["type"]) == (3, 3)

    _, page = _page(client, booked["token"])
    text = text_of(page)
    assert "Ticket 2 is cancelled." in text and "Cancelled" in text
    assert len(re.findall(r'<svg [^>]*class="qr"', page)) == 2
    assert f"/qr/{booked['secrets'][1]}.png" not in page
    assert client.get(f"/tickets/{booked['token']}/qr/{booked['secrets'][1]}.png").status_code == 404
    with app.app_context():
        assert deliver_due() >= 1
        db.session.remove()
    assert any("Cancelled" in m.message["Subject"] for m in mailbox.to("dana@example.org"))


def test_cancelling_the_whole_order(app, client, booked):
    confirm = client.get(f"/tickets/{booked['token']}/cancel")
    html = html_of(confirm)
    assert "Cancel your registration?" in text_of(html) and "All 3 tickets" in text_of(html)
    response = client.post(f"/tickets/{booked['token']}/cancel", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 303
    order = orders(app)[0]
    assert order["status"] == "cancelled" and {t["status"] for t in order["tickets"]} == {"cancelled"}
    assert sold(app, booked["type"]) == (1, 1)  # the other order's seat stays
    _, page = _page(client, booked["token"])
    assert "This registration is cancelled." in text_of(page)
    assert 'class="qr"' not in page and "Change the name" not in page
    again = client.get(f"/tickets/{booked['token']}/cancel")
    assert "already cancelled" in text_of(html_of(again)) and "Yes, cancel" not in html_of(again)


def test_paid_orders_show_the_refusal_and_stay_as_they_are(app, client, organizer):
    def make():
        e = make_event(organizer["organization_id"], slug="paid-gala")
        tt = make_ticket_type(e, name="Supporter", price_cents=4000, currency="EUR", capacity=5)
        order = register_attendees(e, buyer_name="Dana Okafor", buyer_email="dana@example.org", quantities={tt.id: 1})
        db.session.commit()
        return order.token, tt.id
    token, tt = in_app(app, make)
    _, html = _page(client, token)
    assert "Waiting for payment" in text_of(html) and 'class="qr"' not in html and "€40.00" in text_of(html)
    # Paid orders are cancelled whole, with their refund, on the payment domain's page: the free
    # flow's confirmation step sends her back to her ticket page while the order is not paid.
    assert f"/tickets/{token}/cancel" not in html
    back = client.get(f"/tickets/{token}/cancel")
    assert back.status_code == 303 and back.headers["Location"] == f"/tickets/{token}"
    assert client.get(f"/tickets/{token}/1/cancel").headers["Location"] == f"/tickets/{token}"
    refused = client.post(f"/tickets/{token}/cancel", data={"csrf_token": csrf_from(html)})
    assert refused.status_code == 409
    assert "A paid order is cancelled whole, with its refund" in text_of(html_of(refused))
    assert orders(app)[0]["status"] == "pending_payment" and sold(app, tt) == (1, 1)
