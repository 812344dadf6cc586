"""The organizer erases an attendee: names, addresses, answers, profile and emails are gone from
every table; the tickets stay as anonymous counts; the audit log says who and when, not whom."""
from __future__ import annotations

import json

from eventsite.accounts.models import Role
from eventsite.extensions import db
from eventsite.events.models import Event
from tests.conftest import csrf_from, login
from tests.factories import make_member, make_organizer
from tests.privacy.conftest import everything_mentions, raw


def _erase(client, scene, confirm):
    url = f"/organizer/events/{scene.slug}/orders/{scene.order_code}/erase"
    page = client.get(url)
    assert page.status_code == 200
    return client.post(url, data={"csrf_token": csrf_from(page.data), "confirm": confirm})


def _figures():
    return (raw("SELECT id, status, ticket_type_id, price_cents, event_id FROM tickets ORDER BY id"),
            raw("SELECT id, sold, capacity FROM ticket_types ORDER BY id"),
            raw("SELECT id, status, total_cents, currency, event_id FROM orders ORDER BY id"))


def test_erase_removes_her_from_every_table_and_keeps_the_counts(app, organizer, organizer_client, scene):
    with app.app_context():
        before = _figures()
        assert everything_mentions("ada@example.org")  # the order, tickets, profile and outbox hold it
    response = _erase(organizer_client, scene, scene.order_code.lower())
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/orders/{scene.order_code}")

    with app.app_context():
        for needle in ("ada@example.org", "Lovelace", "grace@example.org", "Grace Guest", "no nuts",
                       "Ada Lovelace says hello", scene.order_token):
            assert everything_mentions(needle) == [], needle
        assert _figures() == before  # same tickets, statuses, prices, seats sold, order totals
        [(buyer_name, answers)] = raw("SELECT buyer_name, answers FROM orders WHERE id = :id", id=scene.order_id)
        assert buyer_name == "(erased)" and answers in ({}, "{}")  # JSON: a dict on PostgreSQL, text on SQLite
        assert raw("SELECT count(*) FROM networking_profiles WHERE id = :id", id=scene.ada_profile_id) == [(0,)]
        # Other attendees are untouched.
        assert everything_mentions("dana@example.org") and everything_mentions("Erin Secret")
        [(actor_id, action, subject, details)] = raw("SELECT actor_id, action, subject, details FROM audit_log")
    details = details if isinstance(details, dict) else json.loads(details)
    assert (actor_id, action, subject) == (organizer["id"], "attendee.erased", f"order {scene.order_code}")
    assert details == {"tickets": 2, "profiles": 1, "waitlist_entries": 0, "emails": details["emails"]}
    assert details["emails"] >= 1  # her confirmation email, sent or not, is gone too

    assert organizer_client.get(f"/tickets/{scene.order_token}").status_code == 404  # her old link is dead
    order_page = organizer_client.get(f"/organizer/events/{scene.slug}/orders/{scene.order_code}")
    assert order_page.status_code == 200 and "Lovelace" not in order_page.get_data(as_text=True)
    assert "Resend confirmation email" not in order_page.get_data(as_text=True)


def test_without_the_typed_code_nothing_is_erased(app, organizer_client, scene):
    with app.app_context():
        before = everything_mentions("ada@example.org")
    response = _erase(organizer_client, scene, "yes")
    assert response.status_code == 422
    assert f"Type the order code {scene.order_code}" in response.get_data(as_text=True)
    no_csrf = organizer_client.post(f"/organizer/events/{scene.slug}/orders/{scene.order_code}/erase",
                                    data={"confirm": scene.order_code})
    assert no_csrf.status_code == 400
    with app.app_context():
        assert everything_mentions("ada@example.org") == before
        assert raw("SELECT count(*) FROM audit_log") == [(0,)]


def test_erasing_twice_changes_nothing(app, organizer_client, scene):
    assert _erase(organizer_client, scene, scene.order_code).status_code == 303
    page = organizer_client.get(f"/organizer/events/{scene.slug}/orders/{scene.order_code}/erase")
    assert "already been erased" in page.get_data(as_text=True)
    with app.app_context():
        assert raw("SELECT count(*) FROM audit_log") == [(1,)]


def test_door_staff_and_other_organizations_cannot_erase(app, client, organizer, scene):
    with app.app_context():
        ev = db.session.scalar(db.select(Event).where(Event.slug == scene.slug))
        door = make_member(organizer["organization_id"], Role.CHECKIN, "door@example.org", events=[ev])
        outsider = make_organizer("outsider@example.org")
        door_email, outsider_email = door.email, outsider.email
    url = f"/organizer/events/{scene.slug}/orders/{scene.order_code}/erase"
    login(client, door_email)
    assert client.get(url).status_code == 403
    other = app.test_client()
    login(other, outsider_email)
    assert other.get(url).status_code == 404
    with app.app_context():
        assert everything_mentions("ada@example.org")


def test_order_page_offers_the_erase_link(organizer_client, scene):
    page = organizer_client.get(f"/organizer/events/{scene.slug}/orders/{scene.order_code}").get_data(as_text=True)
    assert f"/organizer/events/{scene.slug}/orders/{scene.order_code}/erase" in page


def test_her_earlier_cancelled_order_goes_too_and_lookalike_addresses_stay(app, organizer_client, scene):
    """Erasing `a_a@...` must not touch `aXa@...` (an underscore is a LIKE wildcard)."""
    from eventsite.registration.cancellation import cancel_order
    from eventsite.registration.models import Order
    from eventsite.registration.services import register_attendees

    with app.app_context():
        ev = db.session.scalar(db.select(Event).where(Event.slug == scene.slug))
        tt = ev.ticket_types[0]
        first = register_attendees(ev, buyer_name="Ann Under", buyer_email="a_a@example.org", quantities={tt.id: 1})
        db.session.commit()
        cancel_order(first)
        db.session.commit()
        again = register_attendees(ev, buyer_name="Ann Under", buyer_email="a_a@example.org", quantities={tt.id: 1})
        register_attendees(ev, buyer_name="Axel Lookalike", buyer_email="axa@example.org", quantities={tt.id: 1})
        db.session.commit()
        code = again.code
        assert len(raw("SELECT id FROM outbox_messages WHERE to_addr LIKE '%axa@example.org%'")) == 1
    url = f"/organizer/events/{scene.slug}/orders/{code}/erase"
    response = organizer_client.post(url, data={"csrf_token": csrf_from(organizer_client.get(url).data),
                                                "confirm": code})
    assert response.status_code == 303
    with app.app_context():
        assert everything_mentions("a_a@example.org") == [] and everything_mentions("Ann Under") == []
        assert len(raw("SELECT id FROM outbox_messages WHERE to_addr LIKE '%axa@example.org%'")) == 1
        assert everything_mentions("Axel Lookalike")
        assert raw("SELECT count(*) FROM orders WHERE buyer_name = '(erased)'") == [(2,)]
        assert db.session.scalar(db.select(db.func.count()).select_from(Order)) == 6  # none deleted
