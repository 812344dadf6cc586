"""Joining the waitlist: only when sold out, one place per email, validated like registration, with a
confirmation page and email, leaving from the email's link, rate-limited."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from eventsite.core.mail.models import OutboxMessage
from eventsite.events.models import EventStatus
from eventsite.extensions import db
from eventsite.registration.models import WaitlistEntry, WaitlistStatus
from tests.conftest import csrf_from
from tests.factories import make_event, make_ticket_type
from tests.registration.waitlist_helpers import (
    LINK_RE,
    SoldOut,
    deliver,
    entry_for,
    event_of,
    in_db,
    join,
    keys,
    link_in,
    make_sold_out,
    post_page_form,
)


@pytest.fixture
def sold_out(app, organizer) -> SoldOut:
    """A published event whose only ticket type (capacity 1) is taken by Ada's order."""
    return make_sold_out(app, organizer["organization_id"])


def _join_page(s) -> str:
    return f"/events/{s.slug}/waitlist"


def _form(s, **over) -> dict:
    return {"name": "Wanda Waiting", "email": "wanda@example.org", "ticket_type": str(s.type_id), "quantity": "1", **over}


def _entries() -> list[WaitlistEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(WaitlistEntry).order_by(WaitlistEntry.id)))


def test_the_event_page_offers_the_waitlist_when_sold_out(app, client, sold_out):
    html = client.get(f"/events/{sold_out.slug}").get_data(as_text=True)
    assert "Sold out" in html
    assert f'action="/events/{sold_out.slug}/waitlist"' in html
    assert 'id="waitlist-name"' in html and 'id="waitlist-email"' in html and "Join the waitlist" in html
    assert 'name="csrf_token"' in html.split('class="waitlist-form"')[1].split("</form>")[0]


def test_join_when_sold_out_shows_the_place_and_sends_a_confirmation(app, client, sold_out, mailbox):
    page = client.get(_join_page(sold_out))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Sold out: Seat." in html and '<label for="waitlist-email">' in html

    response = client.post(_join_page(sold_out), data={"csrf_token": csrf_from(html), **_form(sold_out)})
    assert response.status_code == 303
    token = response.headers["Location"].rsplit("/", 1)[1]
    assert response.headers["Location"].endswith(f"/waitlist/{token}")
    shown = client.get(f"/waitlist/{token}").get_data(as_text=True)
    assert "You're number 1 on the waitlist" in shown and "wanda@example.org" in shown

    second = post_page_form(client, _join_page(sold_out), _join_page(sold_out),
                            _form(sold_out, name="Xena Next", email="Xena@Example.org"))
    assert second.status_code == 303
    assert "You're number 2 on the waitlist" in client.get(second.headers["Location"]).get_data(as_text=True)

    with in_db(app):
        wanda, xena = _entries()
        assert (wanda.status, wanda.name, wanda.email, wanda.quantity, wanda.ticket_type_id) == (
            WaitlistStatus.WAITING, "Wanda Waiting", "wanda@example.org", 1, sold_out.type_id)
        assert xena.email == "xena@example.org" and wanda.token == token and len(token) >= 26
        assert keys()[-2:] == [f"waitlist-joined:{wanda.id}", f"waitlist-joined:{xena.id}"]

    deliver(app)
    (mail,) = mailbox.to("wanda@example.org")
    assert mail.message["Subject"] == "You're on the waitlist: Mentoring Circle"
    text = mail.message.get_body(preferencelist=("plain",)).get_content()
    assert "You're number 1 on the waitlist for Mentoring Circle (1 ticket, Seat)" in text
    assert "48 hours" in text
    assert link_in(mail) == f"/waitlist/{token}"
    assert f"http://eventsite.test/waitlist/{token}/leave" in text
    (xmail,) = mailbox.to("xena@example.org")
    assert "You're number 2" in xmail.message.get_body(preferencelist=("plain",)).get_content()


def test_refused_while_tickets_remain(app, client, organizer):
    with in_db(app):
        event = make_event(organizer["organization_id"], slug="open-evening")
        tt = make_ticket_type(event, name="Seat", capacity=5, sold=1)
        type_id = tt.id
    page = client.get("/events/open-evening/waitlist").get_data(as_text=True)
    assert "register instead" in page and 'class="waitlist-form"' not in page

    token = csrf_from(client.get("/events/open-evening").data)
    response = client.post("/events/open-evening/waitlist", data={
        "csrf_token": token, "name": "Wanda", "email": "wanda@example.org", "ticket_type": str(type_id)})
    assert response.status_code == 409
    assert "Tickets of “Seat” are available: register instead." in response.get_data(as_text=True)
    with in_db(app):
        assert _entries() == [] and db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_second_join_with_the_same_email_is_refused(app, client, sold_out):
    assert post_page_form(client, _join_page(sold_out), _join_page(sold_out), _form(sold_out)).status_code == 303
    again = post_page_form(client, _join_page(sold_out), _join_page(sold_out),
                           _form(sold_out, name="Wanda Again", email="  WANDA@example.org "))
    html = again.get_data(as_text=True)
    assert again.status_code == 409
    assert "This email address is already on the waitlist for this event." in html
    assert 'value="Wanda Again"' in html  # what she typed is kept
    with in_db(app):
        assert len(_entries()) == 1 and len([k for k in keys() if k.startswith("waitlist-joined")]) == 1


def test_someone_already_registered_cannot_join(app, client, sold_out):
    response = post_page_form(client, _join_page(sold_out), _join_page(sold_out),
                              _form(sold_out, email="ada@example.org"))
    assert response.status_code == 409
    assert "already registered for this event" in response.get_data(as_text=True)
    with in_db(app):
        assert _entries() == []


def test_bad_input_gets_messages_next_to_the_fields_and_writes_nothing(app, client, sold_out):
    response = post_page_form(client, _join_page(sold_out), _join_page(sold_out), {
        "name": "Line\nbreak", "email": "not-an-email", "ticket_type": "99999", "quantity": "0"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field in ("name", "email", "ticket_type", "quantity"):
        assert f'id="waitlist-{field}-error"' in html, field
    assert 'aria-describedby="waitlist-email-error"' in html and 'aria-invalid="true"' in html
    assert "Enter a valid email address" in html and "Choose the ticket type you want to wait for." in html
    assert 'value="not-an-email"' in html

    too_many = post_page_form(client, _join_page(sold_out), _join_page(sold_out), _form(sold_out, quantity="11"))
    assert too_many.status_code == 422 and "at most 10 tickets" in too_many.get_data(as_text=True)
    markup = post_page_form(client, _join_page(sold_out), _join_page(sold_out),
                            _form(sold_out, name="<script>alert(1)</script>", email="x" * 300 + "@example.org"))
    assert markup.status_code == 422 and "<script>alert(1)" not in markup.get_data(as_text=True)
    with in_db(app):
        assert _entries() == [] and keys() == [f"confirmation:{sold_out.order_id}"]


def test_join_without_csrf_is_refused(app, client, sold_out):
    response = client.post(_join_page(sold_out), data=_form(sold_out))
    assert response.status_code == 400 and "This form has expired" in response.get_data(as_text=True)
    with in_db(app):
        assert _entries() == []


def test_no_waitlist_when_registration_is_closed_and_none_for_drafts(app, client, sold_out, organizer):
    token = csrf_from(client.get(_join_page(sold_out)).data)  # the form as it was, before the cancellation
    with in_db(app):
        event = event_of(sold_out)
        event.status = EventStatus.CANCELLED
        db.session.commit()
        draft = make_event(organizer["organization_id"], slug="draft-evening", status=EventStatus.DRAFT)
        make_ticket_type(draft, capacity=0)
    page = client.get(_join_page(sold_out)).get_data(as_text=True)
    assert "This event has been cancelled." in page and 'class="waitlist-form"' not in page
    refused = client.post(_join_page(sold_out), data={"csrf_token": token, **_form(sold_out)})
    assert refused.status_code == 409 and "This event has been cancelled." in refused.get_data(as_text=True)
    assert client.get("/events/draft-evening/waitlist").status_code == 404
    with in_db(app):
        assert _entries() == []


def test_leave_from_the_link_in_the_email(app, client, sold_out, mailbox):
    join(app, sold_out.event_id, "wanda@example.org")
    join(app, sold_out.event_id, "xena@example.org", name="Xena Next")
    deliver(app)
    (mail,) = mailbox.to("wanda@example.org")
    text = mail.message.get_body(preferencelist=("plain",)).get_content()
    leave = next(m for m in LINK_RE.finditer(text) if m.group(2))
    leave_url = leave.group(0).replace("http://eventsite.test", "")

    confirm = client.get(leave_url)
    assert confirm.status_code == 200 and "Leave the waitlist?" in confirm.get_data(as_text=True)
    with in_db(app):
        assert entry_for("wanda@example.org").status == WaitlistStatus.WAITING  # GET changes nothing

    done = client.post(leave_url, data={"csrf_token": csrf_from(confirm.data)})
    assert done.status_code == 303
    assert "You're no longer on the waitlist" in client.get(done.headers["Location"]).get_data(as_text=True)
    with in_db(app):
        wanda, xena = entry_for("wanda@example.org"), entry_for("xena@example.org")
        assert wanda.status == WaitlistStatus.REMOVED and wanda.ended_at is not None
        xena_token = xena.token
    assert "You're number 1 on the waitlist" in client.get(f"/waitlist/{xena_token}").get_data(as_text=True)

    # She may join again later: at the end of the queue.
    assert post_page_form(client, _join_page(sold_out), _join_page(sold_out), _form(sold_out)).status_code == 303
    with in_db(app):
        assert [e.status for e in _entries()] == [WaitlistStatus.REMOVED, WaitlistStatus.WAITING, WaitlistStatus.WAITING]


def test_joining_is_rate_limited_per_address(limited_app, sold_out):
    client = limited_app.test_client()
    env = {"REMOTE_ADDR": "203.0.113.9"}
    url = _join_page(sold_out)
    for i in range(10):
        token = csrf_from(client.get(url, environ_base=env).data)
        response = client.post(url, environ_base=env, data={"csrf_token": token, **_form(sold_out, email=f"w{i}@example.org")})
        assert response.status_code == 303, (i, response.status_code)
    token = csrf_from(client.get(url, environ_base=env).data)  # showing the form is never limited
    blocked = client.post(url, environ_base=env, data={"csrf_token": token, **_form(sold_out, email="w10@example.org")})
    assert blocked.status_code == 429 and "Too many attempts" in blocked.get_data(as_text=True)
    other = limited_app.test_client()
    token = csrf_from(other.get(url, environ_base={"REMOTE_ADDR": "198.51.100.4"}).data)
    ok = other.post(url, environ_base={"REMOTE_ADDR": "198.51.100.4"},
                    data={"csrf_token": token, **_form(sold_out, email="w11@example.org")})
    assert ok.status_code == 303
    with limited_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WaitlistEntry)) == 11
        db.session.remove()


def test_names_are_escaped_in_the_page_and_the_email_and_cannot_touch_headers(app, client, sold_out, mailbox):
    response = post_page_form(client, _join_page(sold_out), _join_page(sold_out),
                              _form(sold_out, name='Wanda <b>"Bold"</b>, Bcc: eve@example.org'))
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<b>" not in page and "Wanda &lt;b&gt;" in page
    deliver(app)
    (mail,) = mailbox.to("wanda@example.org")
    assert mail.rcpt_tos == ["wanda@example.org"] and mail.message["Bcc"] is None
    html = mail.message.get_body(preferencelist=("html",)).get_content()
    assert "Hello Wanda &lt;b&gt;" in html and "<b>" not in html
