"""A freed seat goes to the first person waiting as a reserved offer (never back to the public while
someone waits), she claims it into an order, and an offer not claimed in time passes on, then back
on sale when nobody is left."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from eventsite.core.db import utcnow
from eventsite.core.tasks import registered_tasks, run_due_tasks
from eventsite.events.models import Event, QuestionKind, TicketType
from eventsite.events.services import cancel_event
from eventsite.extensions import db
from eventsite.registration import cancellation, services, waitlist, waitlist_offers
from eventsite.registration.errors import SoldOutError
from eventsite.registration.models import (
    Order,
    OrderStatus,
    TicketStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from eventsite.registration.services import register_attendees
from tests.conftest import csrf_from
from tests.factories import make_event, make_question, make_ticket_type
from tests.registration.waitlist_helpers import (
    SoldOut,
    cancel,
    deliver,
    entry_for,
    event_of,
    in_db,
    join,
    keys,
    link_in,
    make_sold_out,
    orders_of,
    post_page_form,
    register,
    sold,
)


@pytest.fixture
def sold_out(app, organizer) -> SoldOut:
    """A published event whose only ticket type (capacity 1) is taken by Ada's order."""
    return make_sold_out(app, organizer["organization_id"])


HOURS = timedelta(hours=1)


def _public_tries(app, event_id: int, email: str = "public@example.org") -> str:
    """Someone from the public tries to register for the first ticket type: 'ok' or 'sold_out'."""
    try:
        register(app, event_id, email, name="Pat Public")
    except SoldOutError:
        return "sold_out"
    return "ok"


def _claim(client, link: str, data: dict | None = None):
    return post_page_form(client, link, f"{link}/claim", data)


# --- a cancellation offers the seat to the first person waiting --------------------------------

def test_a_cancelled_seat_is_offered_to_the_first_waiting_not_to_the_public(app, client, sold_out, mailbox):
    wanda = join(app, sold_out.event_id, "wanda@example.org")
    join(app, sold_out.event_id, "xena@example.org", name="Xena Next")
    cancel(app, sold_out.order_id)

    with in_db(app):
        assert sold(sold_out.type_id) == 1 and event_of(sold_out).sold == 1  # the seat stays claimed
        w, x = entry_for("wanda@example.org"), entry_for("xena@example.org")
        assert (w.status, w.offered_ticket_type_id) == (WaitlistStatus.OFFERED, sold_out.type_id)
        assert w.offered_at is not None
        assert timedelta(hours=47.9) < w.offer_expires_at - w.offered_at <= timedelta(hours=48)
        assert x.status == WaitlistStatus.WAITING
        assert f"waitlist-offer:{w.id}" in keys() and not any(k == f"waitlist-offer:{x.id}" for k in keys())

    # The public still sees "sold out", and cannot take the seat.
    page = client.get(f"/events/{sold_out.slug}").get_data(as_text=True)
    assert "Sold out" in page
    assert _public_tries(app, sold_out.event_id) == "sold_out"

    deliver(app)
    (offer,) = [m for m in mailbox.to("wanda@example.org") if "A place is free" in m.message["Subject"]]
    assert offer.message["Subject"] == "A place is free for you: Mentoring Circle"
    text = offer.message.get_body(preferencelist=("plain",)).get_content()
    assert "Claim it by" in text and "1 ticket, Seat" in text
    assert not [m for m in mailbox.to("xena@example.org") if "A place is free" in m.message["Subject"]]

    link = link_in(offer)
    assert link == f"/waitlist/{wanda}"
    shown = client.get(link).get_data(as_text=True)
    assert "A place is reserved for you" in shown and "Claim by" in shown and "Seat" in shown

    claimed = _claim(client, link)
    assert claimed.status_code == 303 and claimed.headers["Location"].startswith("/tickets/")
    with in_db(app):
        (order,) = orders_of("wanda@example.org")
        assert order.status == OrderStatus.CONFIRMED and order.buyer_name == "Wanda Waiting"
        assert [(t.ticket_type_id, t.status) for t in order.tickets] == [(sold_out.type_id, TicketStatus.VALID)]
        assert claimed.headers["Location"] == f"/tickets/{order.token}"
        entry = entry_for("wanda@example.org")
        assert (entry.status, entry.order_id) == (WaitlistStatus.CLAIMED, order.id) and entry.claimed_at
        assert sold(sold_out.type_id) == 1 and event_of(sold_out).sold == 1  # claimed once, not twice
        assert f"confirmation:{order.id}" in keys()
    deliver(app)
    assert any(m.message["Subject"] == "Your ticket: Mentoring Circle" for m in mailbox.to("wanda@example.org"))
    ticket_page = client.get(claimed.headers["Location"])
    assert ticket_page.status_code == 200 and "Wanda Waiting" in ticket_page.get_data(as_text=True)


def test_claiming_twice_is_refused(app, client, sold_out):
    wanda = join(app, sold_out.event_id, "wanda@example.org")
    cancel(app, sold_out.order_id)
    link = f"/waitlist/{wanda}"
    page = client.get(link)
    token = csrf_from(page.data)
    assert client.post(f"{link}/claim", data={"csrf_token": token}).status_code == 303
    again = client.post(f"{link}/claim", data={"csrf_token": token})  # the same form, posted again
    html = again.get_data(as_text=True)
    assert again.status_code == 409 and "You have already claimed this place" in html
    with in_db(app):
        assert len(orders_of("wanda@example.org")) == 1 and sold(sold_out.type_id) == 1
    assert "You claimed your place" in client.get(link).get_data(as_text=True)


def test_a_tampered_link_shows_a_clear_page_and_changes_nothing(app, client, sold_out):
    wanda = join(app, sold_out.event_id, "wanda@example.org")
    cancel(app, sold_out.order_id)
    token = csrf_from(client.get(f"/waitlist/{wanda}").data)
    with in_db(app):
        before = keys()
    forged = wanda[:-1] + ("A" if wanda[-1] != "A" else "B")
    for url in (f"/waitlist/{forged}", f"/waitlist/{wanda.lower()}", "/waitlist/short", f"/waitlist/{forged}/leave"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "This waitlist link is not valid" in response.get_data(as_text=True)
    for url in (f"/waitlist/{forged}/claim", f"/waitlist/{forged}/leave", "/waitlist/" + "X" * 80 + "/claim"):
        response = client.post(url, data={"csrf_token": token})
        assert response.status_code == 404 and "Nothing was changed." in response.get_data(as_text=True)
    with in_db(app):
        assert entry_for("wanda@example.org").status == WaitlistStatus.OFFERED
        assert orders_of("wanda@example.org") == [] and keys() == before and sold(sold_out.type_id) == 1


def test_an_expired_offer_cannot_be_claimed(app, client, sold_out):
    wanda = join(app, sold_out.event_id, "wanda@example.org")
    cancel(app, sold_out.order_id)
    token = csrf_from(client.get(f"/waitlist/{wanda}").data)
    with in_db(app):  # the time passes before the worker has run
        db.session.execute(update(WaitlistEntry).values(offer_expires_at=utcnow() - HOURS))
        db.session.commit()
    page = client.get(f"/waitlist/{wanda}").get_data(as_text=True)
    assert "This offer has expired" in page and "Claim my place" not in page
    refused = client.post(f"/waitlist/{wanda}/claim", data={"csrf_token": token})
    assert refused.status_code == 409 and "this offer has expired" in refused.get_data(as_text=True)
    with in_db(app):
        assert orders_of("wanda@example.org") == [] and sold(sold_out.type_id) == 1
        assert entry_for("wanda@example.org").status == WaitlistStatus.OFFERED  # the task expires it


# --- expiry: to the next person, then back on sale ---------------------------------------------

def test_an_unclaimed_offer_passes_to_the_next_person_then_back_to_public_sale(app, client, sold_out, mailbox):
    assert "waitlist.expire_offers" in registered_tasks()
    join(app, sold_out.event_id, "wanda@example.org")
    xena = join(app, sold_out.event_id, "xena@example.org", name="Xena Next")
    cancel(app, sold_out.order_id)
    deliver(app)
    mailbox.clear()

    with app.app_context():
        report = run_due_tasks(utcnow() + 49 * HOURS)
        db.session.remove()
    assert "waitlist.expire_offers" not in report.errors
    with in_db(app):
        w, x = entry_for("wanda@example.org"), entry_for("xena@example.org")
        assert w.status == WaitlistStatus.EXPIRED and w.ended_at is not None
        assert x.status == WaitlistStatus.OFFERED and sold(sold_out.type_id) == 1
    deliver(app)
    assert [m.message["Subject"] for m in mailbox.messages] == ["A place is free for you: Mentoring Circle"]
    assert mailbox.messages[0].rcpt_tos == ["xena@example.org"] and link_in(mailbox.messages[0]) == f"/waitlist/{xena}"
    assert "This offer has expired" in client.get(f"/waitlist/{entry_token(app, 'wanda@example.org')}").get_data(as_text=True)

    # Nobody is left: the seat goes back on public sale.
    with app.app_context():
        run_due_tasks(utcnow() + 98 * HOURS)
        db.session.remove()
    with in_db(app):
        assert entry_for("xena@example.org").status == WaitlistStatus.EXPIRED
        assert sold(sold_out.type_id) == 0 and event_of(sold_out).sold == 0
    page = client.get(f"/events/{sold_out.slug}").get_data(as_text=True)
    assert "Sold out" not in page
    assert _public_tries(app, sold_out.event_id) == "ok"


def entry_token(app, email: str) -> str:
    with in_db(app):
        return entry_for(email).token


def test_the_expiry_task_is_idempotent(app, sold_out, mailbox):
    join(app, sold_out.event_id, "wanda@example.org")
    join(app, sold_out.event_id, "xena@example.org", name="Xena Next")
    cancel(app, sold_out.order_id)
    deliver(app)
    mailbox.clear()
    later = utcnow() + 49 * HOURS
    with app.app_context():
        assert waitlist_offers.expire_offers(later) == 2  # one expired, one offered
        db.session.commit()
        assert waitlist_offers.expire_offers(later) == 0
        db.session.commit()
        run_due_tasks(later)
        db.session.remove()
    deliver(app)
    assert [m.rcpt_tos for m in mailbox.messages] == [["xena@example.org"]]
    with in_db(app):
        assert sold(sold_out.type_id) == 1
        assert [e.status for e in db.session.scalars(select(WaitlistEntry).order_by(WaitlistEntry.id))] == [
            WaitlistStatus.EXPIRED, WaitlistStatus.OFFERED]


def test_giving_up_an_offer_passes_it_on_at_once(app, client, sold_out):
    wanda = join(app, sold_out.event_id, "wanda@example.org")
    join(app, sold_out.event_id, "xena@example.org", name="Xena Next")
    cancel(app, sold_out.order_id)
    confirm = client.get(f"/waitlist/{wanda}/leave")
    assert "it goes to the next person waiting" in confirm.get_data(as_text=True)
    assert client.post(f"/waitlist/{wanda}/leave", data={"csrf_token": csrf_from(confirm.data)}).status_code == 303
    with in_db(app):
        assert entry_for("wanda@example.org").status == WaitlistStatus.REMOVED
        x = entry_for("xena@example.org")
        assert x.status == WaitlistStatus.OFFERED and f"waitlist-offer:{x.id}" in keys()
        assert sold(sold_out.type_id) == 1


# --- what the claim asks, and who fits ---------------------------------------------------------

def test_the_claim_asks_her_to_accept_the_organizers_terms(app, client, sold_out):
    """As on the public form: an event with terms needs her consent, recorded on the order."""
    with in_db(app):
        db.session.get(Event, sold_out.event_id).terms_url = "https://example.org/terms"
        db.session.commit()
    wanda = join(app, sold_out.event_id, "wanda@example.org")
    cancel(app, sold_out.order_id)
    link = f"/waitlist/{wanda}"
    page = client.get(link).get_data(as_text=True)
    assert '<label for="consent">I agree to the organizer' in page and 'href="https://example.org/terms"' in page

    refused = _claim(client, link)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="consent-error"' in html and 'aria-invalid="true"' in html
    assert "Tick this box to agree to the organizer&#39;s terms and conditions." in html
    with in_db(app):
        assert entry_for("wanda@example.org").status == WaitlistStatus.OFFERED and orders_of("wanda@example.org") == []

    assert _claim(client, link, {"consent": "y"}).status_code == 303
    with in_db(app):
        (order,) = orders_of("wanda@example.org")
        assert order.terms_url == "https://example.org/terms" and order.terms_accepted_at is not None


def test_the_claim_asks_the_events_questions_and_keeps_the_seat_on_errors(app, client, sold_out):
    with in_db(app):
        event = db.session.get(Event, sold_out.event_id)
        q = make_question(event, label="Dietary requirements", kind=QuestionKind.SINGLE_CHOICE,
                          options=["None", "Vegetarian"], required=True)
        qid = q.id
    # Ada registered before the question existed; the service needs no answer for her order.
    wanda = join(app, sold_out.event_id, "wanda@example.org")
    cancel(app, sold_out.order_id)
    link = f"/waitlist/{wanda}"
    assert "Dietary requirements" in client.get(link).get_data(as_text=True)

    missing = _claim(client, link)
    html = missing.get_data(as_text=True)
    assert missing.status_code == 422
    assert f'id="question-{qid}-error"' in html and "Choose one of the options." in html
    assert "Your place is still reserved" in html and "Dietary requirements: Choose one of the options." in html
    with in_db(app):
        assert entry_for("wanda@example.org").status == WaitlistStatus.OFFERED and sold(sold_out.type_id) == 1
        assert orders_of("wanda@example.org") == []

    assert _claim(client, link, {f"question-{qid}": "Vegetarian"}).status_code == 303
    with in_db(app):
        (order,) = orders_of("wanda@example.org")
        assert order.answers == {str(qid): "Vegetarian"} and sold(sold_out.type_id) == 1


def test_a_group_waits_for_enough_seats_and_a_single_seat_goes_to_the_next_who_fits(app, client, organizer):
    with in_db(app):
        event = make_event(organizer["organization_id"], slug="table-night", title="Table Night")
        tt = make_ticket_type(event, name="Seat", capacity=3)
        ids = event.id, tt.id
    pair = register(app, ids[0], "ada@example.org", quantities={ids[1]: 2})
    register(app, ids[0], "bea@example.org", name="Bea")
    group = join(app, ids[0], "gina@example.org", name="Gina Group", quantity=2)
    join(app, ids[0], "solo@example.org", name="Sol Solo")
    with in_db(app):
        single = db.session.scalar(select(WaitlistEntry).where(WaitlistEntry.email == "solo@example.org"))
        assert waitlist.position(single) == 2

    # Bea's one seat does not fit Gina's two: Sol gets it; Gina keeps her place.
    bea_order = orders_of_id(app, "bea@example.org")
    cancel(app, bea_order)
    with in_db(app):
        assert entry_for("solo@example.org").status == WaitlistStatus.OFFERED
        assert entry_for("gina@example.org").status == WaitlistStatus.WAITING
    # Ada's pair frees two: Gina's offer is for both, and the claim asks the second attendee's name.
    cancel(app, pair)
    with in_db(app):
        g = entry_for("gina@example.org")
        assert (g.status, g.quantity) == (WaitlistStatus.OFFERED, 2) and sold(ids[1]) == 3
    link = f"/waitlist/{group}"
    assert 'name="attendee-1-name"' in client.get(link).get_data(as_text=True)
    nameless = _claim(client, link)
    assert nameless.status_code == 422 and 'id="attendee-1-name-error"' in nameless.get_data(as_text=True)
    assert _claim(client, link, {"attendee-1-name": "Greta Guest"}).status_code == 303
    with in_db(app):
        (order,) = orders_of("gina@example.org")
        assert [t.attendee_name for t in order.tickets] == ["Gina Group", "Greta Guest"] and sold(ids[1]) == 3


def orders_of_id(app, email: str) -> int:
    with in_db(app):
        return orders_of(email)[0].id


def test_waiting_for_any_ticket_type_takes_the_first_that_frees_up(app, organizer):
    with in_db(app):
        event = make_event(organizer["organization_id"], slug="two-rooms")
        a = make_ticket_type(event, name="Room A", capacity=1, position=0)
        b = make_ticket_type(event, name="Room B", capacity=1, position=1)
        ids = event.id, a.id, b.id
        assert waitlist.waitlist_choices(event) == []  # nothing sold out yet
    register(app, ids[0], "ada@example.org", quantities={ids[1]: 1})
    with in_db(app):
        assert [c.value for c in waitlist.waitlist_choices(db.session.get(Event, ids[0]))] == [str(ids[1])]
    bea = register(app, ids[0], "bea@example.org", quantities={ids[2]: 1})
    with in_db(app):
        choices = waitlist.waitlist_choices(db.session.get(Event, ids[0]))
        assert [(c.value, c.label) for c in choices] == [
            (str(ids[1]), "Room A"), (str(ids[2]), "Room B"), ("any", "Any ticket type")]
    join(app, ids[0], "any@example.org", ticket_type="any")
    cancel(app, bea)
    with in_db(app):
        entry = entry_for("any@example.org")
        assert entry.ticket_type_id is None
        assert (entry.status, entry.offered_ticket_type_id) == (WaitlistStatus.OFFERED, ids[2])
        assert db.session.get(TicketType, ids[2]).sold == 1


def test_free_seats_are_offered_by_the_worker_when_capacity_grows(app, sold_out):
    join(app, sold_out.event_id, "wanda@example.org")
    with in_db(app):
        db.session.execute(update(TicketType).where(TicketType.id == sold_out.type_id).values(capacity=2))
        db.session.commit()
    with app.app_context():
        run_due_tasks()
        db.session.remove()
    with in_db(app):
        assert entry_for("wanda@example.org").status == WaitlistStatus.OFFERED and sold(sold_out.type_id) == 2


def test_a_paid_offer_is_refused_clearly_while_online_payment_is_missing(app, client, organizer, monkeypatch):
    from eventsite.registration import views as registration_views

    monkeypatch.setattr(registration_views, "start_payment", None)
    with in_db(app):
        event = make_event(organizer["organization_id"], slug="gala", currency="EUR")
        tt = make_ticket_type(event, name="Dinner", capacity=1, price_cents=4500, currency="EUR")
        ids = event.id, tt.id
        order = register_attendees(event, buyer_name="Ada", buyer_email="ada@example.org", quantities={tt.id: 1},
                                   source="complimentary")
        db.session.commit()
        order_id = order.id
    wanda = join(app, ids[0], "wanda@example.org")
    cancel(app, order_id)
    page = client.get(f"/waitlist/{wanda}").get_data(as_text=True)
    assert "€45.00" in page and "Online payment is not available yet" in page and "Claim my place" not in page
    with in_db(app):
        assert entry_for("wanda@example.org").status == WaitlistStatus.OFFERED
    token = csrf_from(client.get(f"/waitlist/{wanda}/leave").data)  # a forged post, as no claim form is shown
    refused = client.post(f"/waitlist/{wanda}/claim", data={"csrf_token": token})
    assert refused.status_code == 409 and "Online payment is not available yet" in refused.get_data(as_text=True)
    with in_db(app):
        assert orders_of("wanda@example.org") == [] and db.session.get(TicketType, ids[1]).sold == 1

    # With payments wired (the payment issue), the claim makes a pending order and goes to checkout.
    monkeypatch.setattr(registration_views, "start_payment", lambda o: f"https://checkout.test/{o.code}")
    claimed = client.post(f"/waitlist/{wanda}/claim", data={"csrf_token": token})
    assert claimed.status_code == 303 and claimed.headers["Location"].startswith("https://checkout.test/")
    with in_db(app):
        (paid,) = orders_of("wanda@example.org")
        assert paid.status == OrderStatus.PENDING_PAYMENT and paid.total_cents == 4500 and paid.hold_expires_at
        assert db.session.get(TicketType, ids[1]).sold == 1


def test_cancelling_the_event_ends_the_waitlist_and_tells_everyone(app, sold_out, mailbox):
    join(app, sold_out.event_id, "wanda@example.org")
    join(app, sold_out.event_id, "xena@example.org", name="Xena Next")
    cancel(app, sold_out.order_id)  # Wanda now holds an offer
    with in_db(app):
        cancel_event(db.session.get(Event, sold_out.event_id), actor=None)
        db.session.commit()
        assert {e.status for e in db.session.scalars(select(WaitlistEntry))} == {WaitlistStatus.REMOVED}
        assert sold(sold_out.type_id) == 0
    deliver(app)
    for who in ("wanda@example.org", "xena@example.org"):
        assert any(m.message["Subject"] == "Event cancelled: Mentoring Circle" for m in mailbox.to(who)), who


def test_the_offer_time_is_configurable(app, sold_out, monkeypatch):
    monkeypatch.setitem(app.config, "WAITLIST_OFFER_HOURS", 2)
    join(app, sold_out.event_id, "wanda@example.org")
    cancel(app, sold_out.order_id)
    with in_db(app):
        w = entry_for("wanda@example.org")
        assert w.offer_expires_at - w.offered_at == timedelta(hours=2)


def test_an_offer_never_outlasts_registration(app, sold_out):
    closes = utcnow() + timedelta(minutes=30)
    with in_db(app):
        db.session.execute(update(Event).values(registration_closes_at=closes))
        db.session.commit()
    join(app, sold_out.event_id, "wanda@example.org")
    cancel(app, sold_out.order_id)
    with in_db(app):
        assert entry_for("wanda@example.org").offer_expires_at == closes


def test_seats_released_while_an_offer_is_claimed_go_to_the_next_people_not_hers(app, client, organizer, monkeypatch):
    """The payment domain expires holds that ran out at the start of every registration, the claim's
    too: the seats that frees must go to the next person, and must not make her own seats look free."""
    with in_db(app):
        event = make_event(organizer["organization_id"], slug="two-seats")
        tt = make_ticket_type(event, name="Seat", capacity=2)
        ids = event.id, tt.id
    ada = register(app, ids[0], "ada@example.org")
    bea = register(app, ids[0], "bea@example.org", name="Bea")
    wanda = join(app, ids[0], "wanda@example.org")
    join(app, ids[0], "xena@example.org", name="Xena Next")
    join(app, ids[0], "yara@example.org", name="Yara Third")
    cancel(app, ada)

    def bea_hold_runs_out(event, now):  # what payments' "expire on read" does to an unpaid hold
        order = db.session.get(Order, bea)
        if order.is_live:
            cancellation.void_order(order, status=OrderStatus.EXPIRED, now=now)

    monkeypatch.setattr(services, "before_registration", [bea_hold_runs_out])
    assert _claim(client, f"/waitlist/{wanda}").status_code == 303
    with in_db(app):
        assert [o.status for o in orders_of("wanda@example.org")] == [OrderStatus.CONFIRMED]
        assert entry_for("xena@example.org").status == WaitlistStatus.OFFERED  # Bea's seat
        assert entry_for("yara@example.org").status == WaitlistStatus.WAITING
        assert sold(ids[1]) == 2


def test_a_payment_hold_that_runs_out_gives_its_seat_to_the_waitlist(app, organizer):
    """Issue 4: an abandoned checkout's seats, expired by the worker, are offered to the first waiting."""
    assert "payments.expire_holds" in registered_tasks()
    with in_db(app):
        event = make_event(organizer["organization_id"], slug="paid-circle", currency="EUR")
        tt = make_ticket_type(event, name="Supporter", capacity=1, price_cents=2500, currency="EUR")
        ids = event.id, tt.id
    register(app, ids[0], "ada@example.org")  # pending payment, seat held
    join(app, ids[0], "wanda@example.org")
    with app.app_context():
        report = run_due_tasks(utcnow() + timedelta(hours=2))
        db.session.remove()
    assert report.errors == []
    with in_db(app):
        (ada,) = orders_of("ada@example.org")
        assert ada.status == OrderStatus.EXPIRED
        w = entry_for("wanda@example.org")
        assert (w.status, w.offered_ticket_type_id) == (WaitlistStatus.OFFERED, ids[1]) and sold(ids[1]) == 1
