"""Fuzz the JSON endpoints with hand-made nastiness (wrong types, broken JSON, huge and odd strings):
the organizer API (/api/v1/...) and its check-in endpoint. Schemathesis (test_openapi_schemathesis.py)
covers the same API from its OpenAPI document; this file adds what a schema-driven generator does
not send: bodies that are not JSON, not UTF-8, nested too deep, or typed wrong on purpose."""
from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from eventsite.checkin.api import CHECKIN_FIELDS
from eventsite.events.api_schema import (
    CREATE_EVENT_FIELDS,
    TICKET_TYPE_FIELDS,
    UPDATE_EVENT_FIELDS,
)
from tests.fuzz.conftest import FUZZ
from tests.fuzz.support import HUGE, Guard, form_value, json_bodies

_dates = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
GOOD = {
    "string": st.one_of(form_value, HUGE,
                        st.sampled_from(["Europe/Berlin", "published", "draft", "EUR", "https://x.org"])),
    "integer": st.one_of(st.integers(-10, 2_000_000), st.integers()),
    "boolean": st.booleans(),
    "date-time": st.one_of(_dates.map(lambda d: d.isoformat()), form_value),
}


def _strategies(fields) -> dict:
    return {name: GOOD[spec.type] for name, spec in fields.items()}


def _fuzz_api(app, world, method: str, paths, fields, *, accepted=lambda r: r.status_code in (200, 201)):
    client = app.test_client()
    guard = Guard(app, accepted=accepted)
    content_types = st.sampled_from(["application/json"] * 6 + ["text/plain", "application/merge-patch+json",
                                                                 "application/x-www-form-urlencoded"])

    @FUZZ
    @given(paths, json_bodies(_strategies(fields)), content_types)
    def run(path, body, content_type):
        response = client.open(path, method=method, data=body, content_type=content_type,
                               headers={"Authorization": f"Bearer {world.api_token}"})
        if response.status_code >= 400:
            assert response.is_json and "error" in response.get_json(), response.get_data(as_text=True)[:300]
        guard.check(response, f"{method} {path} {content_type} {body[:300]!r}")

    run()
    guard.done()


def test_create_event(app, world):
    _fuzz_api(app, world, "POST", st.just("/api/v1/events"), CREATE_EVENT_FIELDS)


def test_update_event(app, world):
    paths = st.sampled_from([f"/api/v1/events/{world.slug}", "/api/v1/events/nope", f"/api/v1/events/{'x' * 200}"])
    _fuzz_api(app, world, "PATCH", paths, UPDATE_EVENT_FIELDS)


def test_ticket_types(app, world):
    base = f"/api/v1/events/{world.slug}/ticket-types"
    _fuzz_api(app, world, "POST", st.just(base), TICKET_TYPE_FIELDS)
    _fuzz_api(app, world, "PATCH", st.sampled_from([f"{base}/{world.ticket_type_id}", f"{base}/99999"]),
              TICKET_TYPE_FIELDS)


def test_checkin_api(app, world):
    """An unknown code is an answer (201, logged); a 4xx writes nothing."""
    fields = _strategies(CHECKIN_FIELDS)
    fields["secret"] = st.one_of(st.just(world.ticket_secret), form_value)
    client = app.test_client()
    guard = Guard(app, accepted=lambda r: r.status_code in (200, 201))

    @FUZZ
    @given(json_bodies(fields))
    def run(body):
        response = client.post(f"/api/v1/events/{world.slug}/checkins", data=body, content_type="application/json",
                               headers={"Authorization": f"Bearer {world.api_token}"})
        guard.check(response, repr(body[:300]))

    run()
    guard.done()


def test_read_endpoints_with_odd_query_strings(app, world):
    client = app.test_client()
    guard = Guard(app, accepted=lambda r: False)
    paths = st.sampled_from(["/api/v1/events", f"/api/v1/events/{world.slug}/orders",
                             f"/api/v1/events/{world.slug}/tickets", f"/api/v1/events/{world.slug}/ticket-types"])
    args = st.dictionaries(st.sampled_from(["page", "per_page", "status", "q", "since"]), form_value, max_size=3)

    @FUZZ
    @given(paths, args, st.sampled_from([world.api_token, "", "evs_nope", world.api_token + " x"]))
    def run(path, query, token):
        response = client.get(path, query_string=query, headers={"Authorization": f"Bearer {token}"})
        guard.check(response, f"{path} {query!r}")

    run()
