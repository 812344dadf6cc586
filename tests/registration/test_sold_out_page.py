"""The sold-out refusal from a stored copy (registration.views `_refused`, events/page_cache.py):
when a new visitor's registration finds nothing left to buy, her 409 page is kept and served to the
next ones with their own CSRF token, and it must stay exactly what rendering gives.

Each check compares the answer with the one the cache off renders for the same post, tokens aside,
and counts statements to tell a copy from a rendering.
"""
from __future__ import annotations

import re

from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.registration.services import register_attendees
from tests.conftest import csrf_from, login
from tests.factories import make_event, make_ticket_type
from tests.registration.manage_support import count_queries
from tests.registration.views_helpers import in_app, text_of

TOKEN = re.compile(r'(name="csrf_token"[^>]*value=")([^"]+)(")')
ALERT = re.compile(r'<div class="form-errors" role="alert" tabindex="-1" id="form-errors">(.*?)</div>', re.S)
SOLD_OUT = "General admission: Sorry, “General admission” is sold out."


def _without_tokens(html: str) -> str:
    return TOKEN.sub(r"\1TOKEN\3", html)


def _event(app, org: int, *types: tuple[str, int]) -> tuple[str, dict[str, int]]:
    """A published event with these (name, capacity) ticket types, the first one sold out."""
    def make():
        event = make_event(org, title="Mentoring Breakfast")
        ids = {name: make_ticket_type(event, name=name, capacity=capacity).id for name, capacity in types}
        first = types[0][0]
        register_attendees(event, buyer_name="First Comer", buyer_email="first@example.org",
                           quantities={ids[first]: types[0][1]})
        db.session.commit()
        return event.slug, ids
    return in_app(app, make)


def _post(app, slug: str, tt_id: int, *, name: str = "Bea Late", client=None) -> tuple[str, int]:
    """A visitor (a new one unless `client`) loads the page and asks for one ticket: the 409 page
    and the statements the post took."""
    client = client or app.test_client()
    token = csrf_from(client.get(f"/events/{slug}").data)
    email = name.lower().replace(" ", ".") + "@example.org"
    with count_queries(app) as seen:
        answer = client.post(f"/events/{slug}/register", data={
            "csrf_token": token, "name": name, "email": email, f"quantity-{tt_id}": "1"})
    assert answer.status_code == 409
    return answer.get_data(as_text=True), len(seen)


def _rendered(app, slug: str, tt_id: int, **kw) -> str:
    """The same post's answer with the cache off."""
    app.config["EVENTSITE_PAGE_CACHE"] = False
    try:
        return _post(app, slug, tt_id, **kw)[0]
    finally:
        app.config["EVENTSITE_PAGE_CACHE"] = True


def _served(app, slug: str, tt_id: int, **kw) -> tuple[str, int]:
    """What a visitor gets now, checked against rendering."""
    html, statements = _post(app, slug, tt_id, **kw)
    assert _without_tokens(html) == _without_tokens(_rendered(app, slug, tt_id, **kw))
    return html, statements


def _alert(html: str) -> str:
    found = ALERT.findall(html)
    assert len(found) == 1, found
    return text_of(found[0])


def test_the_sold_out_refusal_is_the_rendered_page_with_her_own_token(app, organizer):
    slug, ids = _event(app, organizer["organization_id"], ("General admission", 1))
    tt_id = ids["General admission"]
    first, rendering = _served(app, slug, tt_id)  # rendered and kept
    second, copy = _served(app, slug, tt_id, name="Cleo Later")
    assert copy < rendering - 2  # the fingerprint instead of reloading the event and rendering
    assert _alert(second) == SOLD_OUT
    assert 'id="registration-form"' not in second and "Join the waitlist" in second
    assert "Cleo Later" not in second and "Bea Late" not in first + second

    client = app.test_client()  # her token (in the waitlist form) is hers and works
    html, _ = _post(app, slug, tt_id, name="Dora Waiting", client=client)
    tokens = {TOKEN.search(page).group(2) for page in (first, second, html)}
    assert len(tokens) == 3
    joined = client.post(f"/events/{slug}/waitlist", data={
        "csrf_token": TOKEN.search(html).group(2), "name": "Dora Waiting", "email": "dora@example.org",
        "ticket_type": str(tt_id), "quantity": "1"})
    assert joined.status_code == 303 and "/waitlist/" in joined.headers["Location"]


def test_what_the_page_shows_changes_the_kept_refusal_at_once(app, organizer):
    slug, ids = _event(app, organizer["organization_id"], ("General admission", 1))
    tt_id = ids["General admission"]
    _served(app, slug, tt_id)

    def edit(model, id_, **values):
        def go():
            row = db.session.get(model, id_)
            for k, v in values.items():
                setattr(row, k, v)
            db.session.commit()
        in_app(app, go)

    event_id = in_app(app, lambda: db.session.get(TicketType, tt_id).event_id)
    edit(Event, event_id, title="Mentoring Breakfast, moved upstairs")
    assert "moved upstairs" in _served(app, slug, tt_id)[0]
    edit(TicketType, tt_id, name="Breakfast seat")
    html, _ = _served(app, slug, tt_id)
    assert _alert(html) == "Breakfast seat: Sorry, “Breakfast seat” is sold out."
    assert "General admission" not in html


def test_a_refusal_with_something_left_to_buy_is_rendered_for_her(app, organizer):
    slug, ids = _event(app, organizer["organization_id"], ("Breakfast seat", 1), ("Lunch seat", 10))
    first, rendering = _served(app, slug, ids["Breakfast seat"], name="Ada First")
    second, again = _served(app, slug, ids["Breakfast seat"], name="Bea Second")
    assert again == rendering  # never from a copy: the form holds what she typed
    assert 'value="Bea Second"' in second and "Ada First" not in second
    assert 'id="registration-form"' in second and "Breakfast seat: Sorry, “Breakfast seat” is sold out." in second


def test_logged_in_and_flashed_visitors_get_their_own_refusal(app, organizer):
    slug, ids = _event(app, organizer["organization_id"], ("General admission", 1))
    tt_id = ids["General admission"]
    _served(app, slug, tt_id)
    _post(app, slug, tt_id, name="Cleo Later")  # a copy is kept now

    staff = app.test_client()
    login(staff, organizer["email"])
    html, _ = _post(app, slug, tt_id, name="Olivia Owner", client=staff)
    assert "Log out" in html and _alert(html) == SOLD_OUT
    assert "Log out" not in _post(app, slug, tt_id)[0]  # and her page was not kept for others

    flashed = app.test_client()
    token = csrf_from(flashed.get(f"/events/{slug}").data)
    with flashed.session_transaction() as session:  # after the page: a flash is shown once
        session["_flashes"] = [("success", "Thank you for coming last time.")]
    answer = flashed.post(f"/events/{slug}/register", data={
        "csrf_token": token, "name": "Fay Flashed", "email": "fay@example.org", f"quantity-{tt_id}": "1"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 409 and "Thank you for coming last time." in html and _alert(html) == SOLD_OUT
    assert "Thank you for coming" not in _post(app, slug, tt_id)[0]
