"""The organizer's registrations list: content, counts, search, filters, pages, and one query per page."""
from __future__ import annotations

from datetime import timedelta

import pytest

from eventsite.core.db import utcnow
from eventsite.core.text import format_local
from eventsite.extensions import db
from eventsite.registration import cancellation
from eventsite.registration.models import Order
from tests.registration.manage_support import (
    bulk_tickets,
    check_in,
    count_queries,
    in_app,
    make_setup,
    register,
    table_rows,
    text_of,
)


@pytest.fixture
def reg(app, organizer):
    """The event of manage_support.make_setup: published, Europe/Berlin, two free types, three questions."""
    return in_app(app, make_setup, organizer["organization_id"])


@pytest.fixture
def people(app, reg):
    """Ada (2 tickets: Ada and Bea), Cleo (complimentary VIP), Dana (cancelled), Eve (checked in)."""
    ada_at = (utcnow() - timedelta(days=3)).replace(hour=17, minute=45, second=0, microsecond=0)
    ada = register(app, reg.event_id, name="Ada Lovelace", email="ada@example.org", quantities={reg.general_id: 2},
                   attendees=[{"name": "Bea Bauer", "email": "bea@example.org"}], now=ada_at)
    cleo = register(app, reg.event_id, name="Cleo Comp", email="cleo@example.org", quantities={reg.vip_id: 1},
                    source="complimentary")
    dana = register(app, reg.event_id, name="Dana Gone", email="dana@example.org", quantities={reg.general_id: 1})
    eve = register(app, reg.event_id, name="Eve Early", email="eve@example.org", quantities={reg.general_id: 1})

    def cancel():
        cancellation.cancel_order(db.session.get(Order, dana["id"]))
        db.session.commit()

    in_app(app, cancel)
    check_in(app, eve["tickets"][0]["id"])
    return {"ada": ada, "cleo": cleo, "dana": dana, "eve": eve, "ada_at": ada_at}


def _rows(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True), table_rows(response.get_data(as_text=True))


def test_the_list_shows_one_row_per_ticket_with_everything_the_organizer_needs(organizer_client, reg, people):
    html, rows = _rows(organizer_client, f"{reg.base}/registrations")
    by_name = {r["Attendee"].replace(" comp", ""): r for r in rows}
    assert set(by_name) == {"Ada Lovelace", "Bea Bauer", "Cleo Comp", "Dana Gone", "Eve Early"}

    ada, bea = by_name["Ada Lovelace"], by_name["Bea Bauer"]
    assert ada["Email"] == "ada@example.org" and bea["Email"] == "bea@example.org"
    assert ada["Ticket type"] == bea["Ticket type"] == "General admission"
    assert ada["Order"] == bea["Order"] == "Order " + people["ada"]["code"]
    assert ada["Status"] == "Confirmed" and ada["Checked in"] == "No"
    expected = format_local(people["ada_at"], "Europe/Berlin", "%d %b %Y, %H:%M")
    assert ada["Registered"] == expected  # the event's zone, not UTC
    assert f'href="{reg.base}/orders/{people["ada"]["code"]}"' in html

    assert by_name["Cleo Comp"]["Ticket type"] == "VIP table"
    assert "Cleo Comp comp" in [r["Attendee"] for r in rows]  # marked as complimentary
    assert by_name["Dana Gone"]["Status"] == "Cancelled"
    assert by_name["Eve Early"]["Checked in"].startswith("Yes, ")
    assert [r["Attendee"] for r in rows][0] == "Eve Early"  # newest first

    # The counts at the top: sold / capacity by type, checked in, complimentary.
    counts = {r["Ticket type"]: r for r in table_rows(html, "reg-counts")}
    assert counts["General admission"]["Sold / capacity"] == "3 / 10000"  # Dana's seat went back
    assert counts["General admission"]["Checked in"] == "1"
    assert counts["VIP table"]["Sold / capacity"] == "1 / 10" and counts["VIP table"]["Complimentary"] == "1"
    assert "4 sold of 10010" in text_of(html)
    assert 'aria-current="page">Registrations</a>' in html  # the event's tab


@pytest.mark.parametrize("query, expected", [
    ("ada", {"Ada Lovelace", "Bea Bauer"}),  # the buyer's name finds her whole order
    ("LOVELACE", {"Ada Lovelace", "Bea Bauer"}),
    ("bea@EXAMPLE", {"Bea Bauer"}),
    ("early", {"Eve Early"}),
    ("%", set()),  # LIKE wildcards are searched for literally
    ("_", set()),
    ("nobody", set()),
])
def test_search_by_name_and_email_is_case_insensitive(organizer_client, reg, people, query, expected):
    html, rows = _rows(organizer_client, f"{reg.base}/registrations?q={query.replace('%', '%25')}")
    assert {r["Attendee"].replace(" comp", "") for r in rows} == expected
    if not expected:
        assert "No tickets match" in text_of(html)


def test_search_by_order_code_in_any_case(organizer_client, reg, people):
    code = people["cleo"]["code"]
    for q in (code, code.lower(), code[2:6].lower()):
        _, rows = _rows(organizer_client, f"{reg.base}/registrations?q={q}")
        assert [r["Attendee"] for r in rows] == ["Cleo Comp comp"], q


@pytest.mark.parametrize("args, expected", [
    ("status=cancelled", {"Dana Gone"}),
    ("status=confirmed", {"Ada Lovelace", "Bea Bauer", "Cleo Comp", "Eve Early"}),
    ("status=pending", set()),
    ("checked_in=yes", {"Eve Early"}),
    ("checked_in=no", {"Ada Lovelace", "Bea Bauer", "Cleo Comp", "Dana Gone"}),
    ("status=confirmed&checked_in=no&q=a", {"Ada Lovelace", "Bea Bauer", "Cleo Comp"}),
])
def test_filters(organizer_client, reg, people, args, expected):
    _, rows = _rows(organizer_client, f"{reg.base}/registrations?{args}")
    assert {r["Attendee"].replace(" comp", "") for r in rows} == expected


def test_filter_by_ticket_type_and_the_form_keeps_the_choice(organizer_client, reg, people):
    html, rows = _rows(organizer_client, f"{reg.base}/registrations?ticket_type={reg.vip_id}")
    assert [r["Attendee"] for r in rows] == ["Cleo Comp comp"]
    assert f'<option value="{reg.vip_id}" selected>VIP table</option>' in html
    # The CSV link exports what is shown.
    assert f'registrations.csv?ticket_type={reg.vip_id}"' in html


@pytest.mark.parametrize("args, field, message", [
    ("ticket_type=999999", "ticket_type", "Choose one of this event's ticket types."),
    ("ticket_type=abc", "ticket_type", "Choose one of this event's ticket types."),
    ("status=lost", "status", "Choose confirmed, pending or cancelled."),
    ("checked_in=maybe", "checked_in", "Choose yes or no."),
    ("q=" + "x" * 201, "q", "Search for at most 200 characters."),
    ("q=a%00b", "q", "Search for letters, digits and punctuation only."),
])
def test_bad_filters_get_a_400_with_the_message_next_to_the_field(organizer_client, reg, people, args, field, message):
    response = organizer_client.get(f"{reg.base}/registrations?{args}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'<p class="error" id="{field}-error">{message}</p>'.replace("'", "&#39;") in html
    assert table_rows(html) == []


def test_bad_page_numbers_are_refused(organizer_client, reg, people):
    for page in ("0", "-1", "abc", "99999999999"):
        response = organizer_client.get(f"{reg.base}/registrations?page={page}")
        assert response.status_code == 400, page
        assert "The page must be a whole number" in response.get_data(as_text=True)


def test_pages_of_fifty(app, organizer_client, reg):
    bulk_tickets(app, reg.event_id, reg.general_id, 120)
    html, rows = _rows(organizer_client, f"{reg.base}/registrations")
    assert len(rows) == 50 and rows[0]["Attendee"] == "Attendee 0119"  # newest first
    assert "Tickets 1–50 of 120" in text_of(html) and "Page 1 of 3" in text_of(html)
    assert f'rel="next" href="{reg.base}/registrations?page=2"' in html and 'rel="prev"' not in html

    html, rows = _rows(organizer_client, f"{reg.base}/registrations?page=3")
    assert [r["Attendee"] for r in rows] == [f"Attendee {i:04d}" for i in range(19, -1, -1)]
    assert "Tickets 101–120 of 120" in text_of(html) and 'rel="next"' not in html

    # The filters travel with the page links.
    html, rows = _rows(organizer_client, f"{reg.base}/registrations?q=attendee%2000&checked_in=no")
    assert len(rows) == 50 and "of 100 matching" in text_of(html)
    assert 'page=2&amp;q=attendee+00&amp;checked_in=no"' in html

    html, rows = _rows(organizer_client, f"{reg.base}/registrations?page=9")
    assert rows == [] and "page 9 has none" in text_of(html)


def _list_queries(app, client, url) -> list[str]:
    with count_queries(app) as statements:
        response = client.get(url)
    assert response.status_code == 200
    return statements


def test_one_query_per_page_whatever_the_number_of_attendees(app, organizer, organizer_client, reg):
    small = in_app(app, make_setup, organizer["organization_id"], slug="small-dinner")
    register(app, small.event_id, name="Solo Person", email="solo@example.org", quantities={small.general_id: 1})
    bulk_tickets(app, reg.event_id, reg.general_id, 490, prefix="Person")  # 500 attendees in all
    bulk_tickets(app, reg.event_id, reg.vip_id, 10, prefix="Personvip")

    warm = _list_queries(app, organizer_client, f"{small.base}/registrations")  # (any first-request work)
    tiny = _list_queries(app, organizer_client, f"{small.base}/registrations")
    page1 = _list_queries(app, organizer_client, f"{reg.base}/registrations")
    page5 = _list_queries(app, organizer_client, f"{reg.base}/registrations?page=5")
    searched = _list_queries(app, organizer_client, f"{reg.base}/registrations?q=person&status=confirmed&page=3")

    assert len(table_rows(organizer_client.get(f"{reg.base}/registrations?page=5").get_data(as_text=True))) == 50
    assert len(page1) == len(page5) == len(tiny) == len(searched), (len(tiny), len(page1), len(page5), len(searched))
    assert len(page1) <= 10, page1  # login, event, ticket types, counts, total, rows: a constant few
    assert len(warm) >= len(tiny)
    # Exactly one statement reads the tickets of the page.
    assert sum(1 for s in page5 if "LIMIT" in s.upper() and "tickets" in s) == 1


def test_names_and_answers_are_escaped(app, organizer_client, reg):
    evil = register(app, reg.event_id, name="<script>alert(1)</script>", email="evil@example.org",
                    quantities={reg.general_id: 1}, answers={reg.diet_id: "<img src=x onerror=alert(2)>"})
    listing = organizer_client.get(f"{reg.base}/registrations").get_data(as_text=True)
    order = organizer_client.get(f"{reg.base}/orders/{evil['code']}").get_data(as_text=True)
    for html in (listing, order):
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in order and "&lt;img src=x onerror=alert(2)&gt;" in order
