"""Fuzz the organizer's forms: the event editor, ticket types, questions, the attendee search, the
door's scan and search, complimentary tickets. No 5xx; a rejected post changes no row."""
from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import csrf_from
from tests.fuzz.conftest import FUZZ
from tests.fuzz.support import HUGE_IN_URL, UNICODE, Guard, form_fields, form_value, form_values, json_value


def _form(client, page_url: str, action: str) -> tuple[str, list[str]]:
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    names = form_fields(page.data, action)
    assert names, f"no form posting to {action} on {page_url}"
    return csrf_from(page.data), names


def _fuzz_form(app, client, page_url: str, action: str, *, must_have: tuple[str, ...] = ()) -> None:
    csrf, names = _form(client, page_url, action)
    assert set(must_have) <= set(names), names
    guard = Guard(app)

    @FUZZ
    @given(form_values(names))
    def run(data):
        guard.check(client.post(action, data={**data, "csrf_token": csrf}), repr(data)[:300])

    run()
    guard.done()


def test_new_event(app, world, fuzz_organizer_client):
    _fuzz_form(app, fuzz_organizer_client, "/organizer/events/new", "/organizer/events/new",
               must_have=("title", "starts_at", "timezone"))


def test_event_editor(app, world, fuzz_organizer_client):
    url = f"/organizer/events/{world.slug}/edit"
    _fuzz_form(app, fuzz_organizer_client, url, url, must_have=("title", "description", "starts_at"))


def test_new_ticket_type(app, world, fuzz_organizer_client):
    url = f"/organizer/events/{world.slug}/tickets/new"
    _fuzz_form(app, fuzz_organizer_client, url, url, must_have=("name", "capacity"))


def test_edit_ticket_type(app, world, fuzz_organizer_client):
    """The sold ticket type: capacity below what is sold, price changes, ... must be refused cleanly."""
    url = f"/organizer/events/{world.slug}/tickets/{world.ticket_type_id}/edit"
    _fuzz_form(app, fuzz_organizer_client, url, url, must_have=("name", "capacity"))


def test_new_question(app, world, fuzz_organizer_client):
    url = f"/organizer/events/{world.slug}/questions/new"
    _fuzz_form(app, fuzz_organizer_client, url, url, must_have=("label", "kind"))


def test_edit_question(app, world, fuzz_organizer_client):
    url = f"/organizer/events/{world.slug}/questions/{world.question_id}/edit"
    _fuzz_form(app, fuzz_organizer_client, url, url, must_have=("label",))


def test_complimentary_tickets(app, world, fuzz_organizer_client):
    url = f"/organizer/events/{world.slug}/complimentary"
    _fuzz_form(app, fuzz_organizer_client, url, url)


def test_attendee_search_and_door_search(app, world, fuzz_organizer_client):
    """Searching writes nothing, whatever the query string."""
    client = fuzz_organizer_client
    guard = Guard(app, accepted=lambda r: False)
    names = ["q", "status", "ticket_type", "checked_in", "page", "sort", "question"]
    urls = st.sampled_from([f"/organizer/events/{world.slug}/registrations",
                            f"/organizer/events/{world.slug}/registrations.csv",
                            f"/organizer/events/{world.slug}/checkin/search",
                            f"/organizer/events/{world.slug}/checkin"])

    @FUZZ
    @given(urls, form_values(names, huge=HUGE_IN_URL))
    def run(url, args):
        response = client.get(url, query_string=args)
        assert response.status_code in (200, 400), response.status_code
        guard.check(response, f"{url} {args!r}"[:300])

    run()


def test_door_scan(app, world, fuzz_organizer_client):
    """The door screen's scan, as a form and as JSON: the answer is 200 with a result, or a 4xx;
    a 4xx writes nothing (a scan of an unknown code is an answer, logged, not an error)."""
    client = fuzz_organizer_client
    url = f"/organizer/events/{world.slug}/checkin/scan"
    csrf = csrf_from(client.get(f"/organizer/events/{world.slug}/checkin").data)
    guard = Guard(app, accepted=lambda r: r.status_code == 200)
    good = {"code": st.one_of(st.just(world.ticket_secret), form_value), "door": UNICODE,
            "request_id": st.one_of(st.uuids().map(lambda u: u.hex), form_value),
            "ticket_id": st.one_of(st.integers(-5, 10**12), form_value), "method": form_value}
    as_json = st.fixed_dictionaries({}, optional={k: st.one_of(v, json_value) for k, v in good.items()})

    @FUZZ
    @given(st.booleans(), as_json, form_values(list(good)))
    def run(use_json, body, form):
        if use_json:
            response = client.post(url, data=json.dumps(body), headers={"X-CSRFToken": csrf},
                                   content_type="application/json")
        else:
            response = client.post(url, data={**form, "csrf_token": csrf})
        guard.check(response, repr(body if use_json else form)[:300])

    run()
