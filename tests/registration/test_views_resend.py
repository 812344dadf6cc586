""""Send my ticket again": the same neutral answer whoever asks; an email only for a registered address."""
from __future__ import annotations

from eventsite.core.mail.worker import deliver_due
from eventsite.events.models import EventStatus
from eventsite.extensions import db
from tests.conftest import csrf_from
from tests.factories import make_event, make_ticket_type
from tests.registration.views_helpers import html_of, in_app, orders, register, text_of

NEUTRAL = "If that address is registered, the ticket is on its way."


def _deliver(app) -> int:
    with app.app_context():
        try:
            return deliver_due()
        finally:
            db.session.remove()


def _setup(app, organizer) -> int:
    def make():
        e = make_event(organizer["organization_id"], slug="breakfast", title="Leadership Breakfast")
        return make_ticket_type(e, name="Seat", capacity=10).id
    return in_app(app, make)


def _resend(client, email: str, slug: str = "breakfast"):
    token = csrf_from(client.get("/events/breakfast").data)
    return client.post(f"/events/{slug}/resend", data={"csrf_token": token, "email": email})


def test_registered_and_unknown_addresses_get_the_same_answer_and_only_one_gets_mail(app, client, organizer, mailbox):
    tt = _setup(app, organizer)
    assert register(client, "breakfast", {"name": "Dana Okafor", "email": "dana@example.org",
                                          f"quantity-{tt}": "1"}).status_code == 303
    assert _deliver(app) == 1
    mailbox.clear()

    known = _resend(client, " DANA@example.org ")
    unknown = _resend(client, "nobody@example.org")
    malformed = _resend(client, "not an address")
    assert known.status_code == unknown.status_code == malformed.status_code == 200
    for response in (known, unknown, malformed):
        assert NEUTRAL in text_of(html_of(response))

    def main(response):  # the pages differ only in their CSRF token (none on this page) and nothing else
        return html_of(response).split("<main", 1)[1]
    assert main(known) == main(unknown) == main(malformed)

    assert _deliver(app) == 1
    [mail] = mailbox.to("dana@example.org")
    assert mail.message["Subject"] == "Your ticket: Leadership Breakfast"
    assert mailbox.to("nobody@example.org") == []
    assert len(mailbox.messages) == 1


def test_the_button_on_the_already_registered_page_sends_the_ticket_again(app, client, organizer, mailbox):
    tt = _setup(app, organizer)
    data = {"name": "Dana Okafor", "email": "dana@example.org", f"quantity-{tt}": "1"}
    assert register(client, "breakfast", data).status_code == 303
    _deliver(app)
    mailbox.clear()
    again = html_of(register(client, "breakfast", data))
    # The button belongs to the resend form: what it posts is that form's token and email.
    import re
    form = re.search(r'<form id="resend-form"[^>]*action="([^"]+)">(.*?)</form>', again, re.S)
    assert form and form.group(1) == "/events/breakfast/resend"
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
    response = client.post(form.group(1), data=fields)
    assert response.status_code == 200 and NEUTRAL in text_of(html_of(response))
    assert _deliver(app) == 1 and len(mailbox.to("dana@example.org")) == 1
    assert len(orders(app)) == 1


def test_resend_needs_a_public_event_and_the_csrf_token(app, client, organizer):
    _setup(app, organizer)
    in_app(app, lambda: make_event(organizer["organization_id"], slug="secret-draft", status=EventStatus.DRAFT))
    assert _resend(client, "dana@example.org", slug="secret-draft").status_code == 404
    client.get("/events/breakfast")
    no_token = client.post("/events/breakfast/resend", data={"email": "dana@example.org"})
    assert no_token.status_code == 400 and "This form has expired" in text_of(html_of(no_token))
