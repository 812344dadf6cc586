"""The organizer sets the refund policy and the time to pay in the event editor; the hold follows it."""
from __future__ import annotations

from datetime import timedelta

from eventsite.core.db import utcnow
from eventsite.events.models import Event
from eventsite.extensions import db
from tests.conftest import post_form
from tests.events.manage_helpers import described_by, event_form_data, field_error
from tests.payments.conftest import in_app, order_state, register


def _event(app, event_id):
    def read():
        event = db.session.get(Event, event_id)
        return event.refund_until_days_before, event.hold_minutes

    return in_app(app, read)


def test_the_editor_sets_and_clears_the_refund_policy_and_hold(app, organizer_client, paid_event, stripe_api, client):
    url = f"/organizer/events/{paid_event.slug}/edit"
    page = organizer_client.get(url).get_data(as_text=True)
    assert 'name="refund_until_days_before"' in page and 'value="7"' in page and 'name="hold_minutes"' in page

    response = post_form(organizer_client, url, event_form_data(slug=paid_event.slug, refund_until_days_before="3",
                                                                hold_minutes="45"))
    assert response.status_code in (302, 303)
    assert _event(app, paid_event.id) == (3, 45)

    before = utcnow()
    register(client, paid_event)
    hold = order_state(app)["hold_expires_at"]
    assert before + timedelta(minutes=44) < hold <= utcnow() + timedelta(minutes=46)

    response = post_form(organizer_client, url, event_form_data(slug=paid_event.slug, refund_until_days_before="",
                                                                hold_minutes=""))
    assert response.status_code in (302, 303)
    assert _event(app, paid_event.id) == (None, None)


def test_bad_values_are_shown_next_to_their_field(app, organizer_client, paid_event):
    url = f"/organizer/events/{paid_event.slug}/edit"
    response = post_form(organizer_client, url, event_form_data(slug=paid_event.slug, refund_until_days_before="-1",
                                                                hold_minutes="2"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "refund_until_days_before") == "Enter a number of days from 0 to 365."
    assert field_error(html, "hold_minutes") == "Enter a number of minutes from 5 to 1,440."
    assert "refund_until_days_before-error" in described_by(html, "refund_until_days_before")
    assert _event(app, paid_event.id) == (7, None)
