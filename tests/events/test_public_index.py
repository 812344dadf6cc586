"""The home page: upcoming published events as cards, in a fixed number of queries."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event as sa_event

from eventsite.core.db import utcnow
from eventsite.events.models import EventStatus
from eventsite.extensions import db
from tests.events.public_helpers import card_for, future_local, visible_text
from tests.factories import make_event, make_ticket_type


def test_lists_upcoming_published_events_only(app, client, organizer):
    org = organizer["organization_id"]
    with app.app_context():
        make_event(org, title="Published Breakfast")
        make_event(org, title="Secret Draft", status=EventStatus.DRAFT)
        make_event(org, title="Called Off Evening", status=EventStatus.CANCELLED)
        past = utcnow() - timedelta(days=3)
        make_event(org, title="Last Week's Circle", starts_at=past, ends_at=past + timedelta(hours=2))
        started = utcnow() - timedelta(hours=1)
        make_event(org, title="Happening Now Conference", starts_at=started, ends_at=started + timedelta(hours=5))

    html = client.get("/").get_data(as_text=True)
    text = visible_text(html)
    assert "Published Breakfast" in text
    assert "Happening Now Conference" in text  # still running: people may join
    assert "Secret Draft" not in html
    assert "Called Off Evening" not in html
    assert "Last Week's Circle" not in html


def test_events_are_in_start_order_with_links(app, client, organizer):
    org = organizer["organization_id"]
    with app.app_context():
        make_event(org, title="Later Event", slug="later", starts_at=utcnow() + timedelta(days=30))
        make_event(org, title="Sooner Event", slug="sooner", starts_at=utcnow() + timedelta(days=3))
    html = client.get("/").get_data(as_text=True)
    assert html.index("Sooner Event") < html.index("Later Event")
    assert 'href="/events/sooner"' in html and 'href="/events/later"' in html


def test_card_shows_local_time_with_zone_abbreviation_venue_summary_and_price(app, client, organizer):
    org = organizer["organization_id"]
    with app.app_context():
        winter = make_event(org, title="Winter Talk", starts_at=future_local(1, 15, 18, 30),
                            venue_name="Kulturhaus", summary="Talks about negotiation.")
        make_ticket_type(winter, name="Standard", price_cents=2500, capacity=50)
        make_ticket_type(winter, name="Premium", price_cents=9000, capacity=50)
        summer = make_event(org, title="Summer Talk", starts_at=future_local(7, 15, 18, 30),
                            venue_name="", venue_address="", online_url="https://meet.example.org/room")
        make_ticket_type(summer, name="Free seat", price_cents=0, capacity=50)
        year = winter.starts_at.year

    text = visible_text(client.get("/").get_data(as_text=True))
    # 18:30 in Berlin, not 17:30 / 16:30 UTC; winter is CET, summer CEST.
    assert f"15 Jan {year}, 18:30 CET" in text
    assert f"15 Jul {year}, 18:30 CEST" in text
    assert "17:30" not in text and "16:30" not in text
    assert "Kulturhaus" in text and "Online" in text
    assert "Talks about negotiation." in text
    assert "From $25.00" in text
    assert "Free" in text


def test_sold_out_badge_only_when_every_visible_type_is_sold_out(app, client, organizer):
    org = organizer["organization_id"]
    with app.app_context():
        full = make_event(org, title="Full House", slug="full-house")
        make_ticket_type(full, name="A", capacity=10, sold=10)
        make_ticket_type(full, name="Secret comp", capacity=5, sold=0, hidden=True)  # hidden: does not count
        partly = make_event(org, title="Some Left", slug="some-left")
        make_ticket_type(partly, name="A", capacity=10, sold=10)
        make_ticket_type(partly, name="B", capacity=10, sold=3)

    html = client.get("/").get_data(as_text=True)
    full_card, some_card = card_for(html, "Full House"), card_for(html, "Some Left")
    assert "Sold out" in full_card
    assert "Sold out" not in some_card


def test_cover_image_on_the_card(app, client, organizer):
    with app.app_context():
        make_event(organizer["organization_id"], title="With Cover", cover_image="a" * 32 + ".jpg")
    html = client.get("/").get_data(as_text=True)
    assert f'<img src="/uploads/{"a" * 32}.jpg"' in html


def test_friendly_empty_state(app, client, organizer):
    with app.app_context():
        make_event(organizer["organization_id"], title="Only A Draft", status=EventStatus.DRAFT)
    response = client.get("/")
    assert response.status_code == 200
    text = visible_text(response.get_data(as_text=True))
    assert "No upcoming events yet" in text
    assert "Only A Draft" not in text


def test_title_is_escaped_on_the_card(app, client, organizer):
    with app.app_context():
        make_event(organizer["organization_id"], title="<script>alert(1)</script> Night")
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Night" in html


def _queries_for(app, client, path: str) -> int:
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get(path)
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len(statements)


def _make_events(app, org: int, n: int) -> None:
    with app.app_context():
        for i in range(n):
            e = make_event(org, title=f"Event number {i}")
            make_ticket_type(e, name="Free", capacity=30)
            make_ticket_type(e, name="Paid", price_cents=1500, capacity=30)


def test_query_count_does_not_grow_with_the_number_of_events(app, client, organizer):
    org = organizer["organization_id"]
    _make_events(app, org, 3)
    client.get("/events/no-such-event")  # warm up (first connection, pragmas)
    rendered_3 = _queries_for(app, client, "/")  # rendered: the fingerprint, events, ticket types
    copy_3 = _queries_for(app, client, "/")  # the stored copy: the fingerprint only
    _make_events(app, org, 27)
    rendered_30 = _queries_for(app, client, "/")
    copy_30 = _queries_for(app, client, "/")
    assert visible_text(client.get("/").get_data(as_text=True)).count("Event number") == 30
    assert rendered_3 == rendered_30 == 3
    assert copy_3 == copy_30 == 1
