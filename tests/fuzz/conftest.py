"""Fuzzing fixtures: one world of data per test, a snapshot of the tables, and the Hypothesis profile.

Every fuzz test builds its data once (`world`), then Hypothesis posts generated input many times
against the same app and client. Function-scoped fixtures are therefore shared by the examples of
one test on purpose, and the health check that warns about it is suppressed in the profile.
`EVENTSITE_FUZZ_EXAMPLES` raises the number of examples (default 200 per test, what CI runs);
`EVENTSITE_FUZZ_RANDOM=1` draws new examples instead of the fixed, reproducible ones.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings

from eventsite.accounts.services import create_api_token
from eventsite.connections import event_settings
from eventsite.core.db import utcnow
from eventsite.extensions import db
from eventsite.registration import waitlist
from eventsite.registration.cancellation import cancel_order
from eventsite.registration.models import WaitlistStatus
from eventsite.registration.services import live_order_for, register_attendees
from tests.conftest import login
from tests.factories import make_event, make_organizer, make_question, make_ticket_type

FUZZ_EXAMPLES = int(os.environ.get("EVENTSITE_FUZZ_EXAMPLES") or 200)
# The same examples on every run of `make test` (a red CI run is reproducible, never a fluke);
# EVENTSITE_FUZZ_RANDOM=1 explores new ones (Hypothesis prints the seed of a failure).
FUZZ_RANDOM = os.environ.get("EVENTSITE_FUZZ_RANDOM") == "1"

settings.register_profile(
    "eventsite-fuzz",
    max_examples=FUZZ_EXAMPLES,
    derandomize=not FUZZ_RANDOM,
    deadline=None,  # the first request of a test pays for template compilation
    database=None,  # no example database left behind in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
FUZZ = settings(settings.get_profile("eventsite-fuzz"))


@dataclass
class World:
    """What the fuzz tests post against (ids and tokens; no ORM objects across requests)."""

    organizer_email: str
    slug: str  # published, free tickets, one of each question kind
    sold_out_slug: str  # published, capacity 1 sold: the waitlist form
    past_slug: str  # ended yesterday: networking profiles
    ticket_type_id: int
    question_id: int
    order_token: str  # a confirmed order of two tickets (event `slug`)
    past_order_token: str  # an order of the past event
    ticket_secret: str
    api_token: str
    offer_token: str  # a waitlist entry with an open offer (event `sold_out_slug`)


@pytest.fixture
def world(app) -> World:
    from eventsite.events.models import QuestionKind

    with app.app_context():
        user = make_organizer("fuzz-owner@example.org", name="Fuzz Owner")
        org_id = user.memberships[0].organization_id
        ev = make_event(org_id, slug="fuzz-evening", title="Fuzz Evening")
        tt = make_ticket_type(ev, name="Standard", capacity=100_000, max_per_order=5)
        q = make_question(ev, label="Dietary", kind=QuestionKind.SHORT_TEXT)
        make_question(ev, label="Track", kind=QuestionKind.SINGLE_CHOICE, options=["Talks", "Dinner"])
        make_question(ev, label="Photos ok", kind=QuestionKind.CHECKBOX)
        order = register_attendees(ev, buyer_name="Fiona Fuzz", buyer_email="fiona@example.org",
                                   quantities={tt.id: 2}, attendees=[{"name": "Gina Guest", "email": ""}])
        # Sold out, with one person waiting whose offer is open (a seat freed up): the waitlist's
        # join form and claim form. A required question makes most generated claims incomplete.
        full = make_event(org_id, slug="fuzz-full", title="Fuzz Full")
        full_tt = make_ticket_type(full, name="Only two", capacity=2)
        make_question(full, label="Company", kind=QuestionKind.SHORT_TEXT, required=True)
        for name in ("First", "Second"):
            register_attendees(full, buyer_name=f"{name} Come", buyer_email=f"{name.lower()}@example.org",
                               quantities={full_tt.id: 1}, answers={str(full.questions[0].id): "Acme"})
        entry = waitlist.join_waitlist(full, name="Wanda Wait", email="wanda@example.org",
                                       ticket_type=str(full_tt.id), quantity="1")
        db.session.commit()
        second = live_order_for(full, "second@example.org")
        cancel_order(second)
        db.session.commit()
        db.session.refresh(entry)
        assert entry.status == WaitlistStatus.OFFERED, entry.status
        now = utcnow()
        past = make_event(org_id, slug="fuzz-past", title="Fuzz Past",
                          starts_at=now - timedelta(days=1, hours=3), ends_at=now - timedelta(days=1))
        past_tt = make_ticket_type(past, name="Was there", capacity=50)
        past_order = register_attendees(past, buyer_name="Paula Past", buyer_email="paula@example.org",
                                        quantities={past_tt.id: 1}, now=now - timedelta(days=3))
        event_settings.update_settings(
            past, enabled=True, audience="registered", tags="Hiring\nFundraising",
            steps={"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)}, send_hour=10)
        _, api_token = create_api_token(user, "fuzz")
        db.session.commit()
        info = World(user.email, ev.slug, full.slug, past.slug, tt.id, q.id, order.token, past_order.token,
                     order.tickets[0].secret, api_token, entry.token)
        db.session.remove()
    return info


@pytest.fixture
def fuzz_organizer_client(app, world):
    client = app.test_client()
    login(client, world.organizer_email)
    return client
