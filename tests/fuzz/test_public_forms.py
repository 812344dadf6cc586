"""Fuzz the public forms: registration, waitlist join and claim, the ticket page (rename, cancel),
the networking profile and the organizer login. No 5xx; a rejected post changes no row."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import csrf_from
from tests.fuzz.conftest import FUZZ
from tests.fuzz.support import HUGE, Guard, form_fields, form_value, form_values


def _form(client, page_url: str, action: str) -> tuple[str, list[str]]:
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    names = form_fields(page.data, action)
    assert names, f"no form posting to {action} on {page_url}"
    return csrf_from(page.data), names


def test_registration_form(app, world):
    client = app.test_client()
    action = f"/events/{world.slug}/register"
    csrf, names = _form(client, f"/events/{world.slug}", action)
    assert f"quantity-{world.ticket_type_id}" in names and "email" in names
    guard = Guard(app)

    @FUZZ
    @given(form_values(names), st.sampled_from([True] * 9 + [False]))  # mostly past CSRF
    def run(data, with_csrf):
        response = client.post(action, data={**data, **({"csrf_token": csrf} if with_csrf else {})})
        guard.check(response, repr(data)[:300])

    run()
    guard.done()
    assert guard.outcomes.get(422, 0) > 0, guard.outcomes  # the form itself answered, not only CSRF


def test_registration_step_two_with_a_valid_start(app, world):
    """Valid quantities and buyer, generated names, emails and answers for the other tickets."""
    client = app.test_client()
    action = f"/events/{world.slug}/register"
    csrf, names = _form(client, f"/events/{world.slug}", action)
    guard = Guard(app)
    emails = st.one_of(form_value, st.from_regex(r"[a-z]{1,8}@example\.org", fullmatch=True))

    @FUZZ
    @given(st.integers(1, 6), form_values([n for n in names if n.startswith("question-")], extra=False),
           st.dictionaries(st.sampled_from([f"attendee-{i}-{f}" for i in range(1, 7) for f in ("name", "email")]),
                           form_value, max_size=6), form_value, emails)
    def run(quantity, answers, attendees, name, email):
        data = {f"quantity-{world.ticket_type_id}": str(quantity), "name": name, "email": email,
                **answers, **attendees, "csrf_token": csrf}
        guard.check(client.post(action, data=data), repr(data)[:300])

    run()
    guard.done()


def test_waitlist_join(app, world):
    client = app.test_client()
    action = f"/events/{world.sold_out_slug}/waitlist"
    csrf, names = _form(client, action, action)
    guard = Guard(app)

    @FUZZ
    @given(form_values(names))
    def run(data):
        guard.check(client.post(action, data={**data, "csrf_token": csrf}), repr(data)[:300])

    run()
    guard.done()


def test_waitlist_claim(app, world):
    client = app.test_client()
    action = f"/waitlist/{world.offer_token}/claim"
    csrf, names = _form(client, f"/waitlist/{world.offer_token}", action)
    guard = Guard(app)
    tokens = st.one_of(st.just(world.offer_token), st.sampled_from(["x", world.offer_token + "x", "%00", "a" * 300]))

    @FUZZ
    @given(tokens, form_values(names))
    def run(token, data):
        response = client.post(f"/waitlist/{token}/claim", data={**data, "csrf_token": csrf})
        guard.check(response, f"{token[:20]} {data!r}"[:300])

    run()
    guard.done()


def test_ticket_page_rename(app, world):
    client = app.test_client()
    base = f"/tickets/{world.order_token}"
    csrf, names = _form(client, base, f"{base}/2/rename")
    guard = Guard(app)

    @FUZZ
    @given(st.sampled_from([1, 2, 3, 0, 99]), form_values(names))
    def run(n, data):
        guard.check(client.post(f"{base}/{n}/rename", data={**data, "csrf_token": csrf}), f"{n} {data!r}"[:300])

    run()
    guard.done()


def test_ticket_page_cancel(app, world):
    """Wrong tokens, tickets and extra fields: 404 or the confirmation page again, nothing written;
    the real cancel (once) goes through, then cancelling again changes nothing."""
    client = app.test_client()
    base = f"/tickets/{world.order_token}"
    csrf = csrf_from(client.get(f"{base}/2/cancel").data)
    guard = Guard(app)
    paths = st.one_of(st.sampled_from([f"{base}/cancel", f"{base}/2/cancel", f"{base}/9/cancel", f"{base}/0/cancel"]),
                      form_value.map(lambda t: f"/tickets/{t[:200]}/cancel"))

    @FUZZ
    @given(paths, form_values(["confirm", "reason"]), st.sampled_from([True] * 9 + [False]))
    def run(path, data, with_csrf):
        response = client.post(path, data={**data, **({"csrf_token": csrf} if with_csrf else {})})
        guard.check(response, f"{path[:80]} {data!r}"[:300])

    run()
    guard.done()


def test_networking_profile(app, world):
    client = app.test_client()
    action = f"/tickets/{world.past_order_token}/networking"
    csrf, names = _form(client, action, action)
    assert "intro" in names and "consent" in names
    guard = Guard(app)

    @FUZZ
    @given(form_values(names), st.lists(st.sampled_from(["Hiring", "Fundraising", "Other", ""]), max_size=4))
    def run(data, offers):
        data = {**data, "csrf_token": csrf}
        if offers:
            data["offers"] = offers
        guard.check(client.post(action, data=data), repr(data)[:300])

    run()
    guard.done()


def test_login(app, world):
    client = app.test_client()
    csrf, names = _form(client, "/organizer/login", "/organizer/login")
    guard = Guard(app)
    emails = st.one_of(form_value, st.just(world.organizer_email), st.just(world.organizer_email.upper()))

    @FUZZ
    @given(emails, st.one_of(form_value, HUGE), form_values([n for n in names if n not in ("email", "password")]))
    def run(email, password, rest):
        response = client.post("/organizer/login", data={**rest, "email": email, "password": password,
                                                          "csrf_token": csrf})
        guard.check(response, f"{email[:60]!r} {password[:60]!r}")
        assert response.status_code != 302 and response.status_code != 303, "a generated password logged in"

    run()
    guard.done()
