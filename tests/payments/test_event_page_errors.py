"""The registration form shown again (with errors, or for the attendees' names) is the same event page:
the payments domain's refund-policy line is there too, not only on the first visit."""
from __future__ import annotations

from tests.conftest import post_form
from tests.registration.views_helpers import counts, field_error, html_of, text_of

POLICY = "Refunds: full refund if you cancel by"


def test_the_refund_policy_is_on_the_page_with_errors(app, client, stripe_api, paid_event):
    assert POLICY in text_of(html_of(client.get(f"/events/{paid_event.slug}")))
    response = post_form(client, f"/events/{paid_event.slug}/register",
                         {"name": "Ada Lovelace", "email": "ada@@example", f"quantity-{paid_event.paid_type_id}": "1"},
                         form_url=f"/events/{paid_event.slug}")
    assert response.status_code == 422
    html = html_of(response)
    assert field_error(html, "email") and f"{POLICY} " in text_of(html)
    assert "(7 days before the start); no refund after that." in text_of(html)
    assert counts(app)["orders"] == 0


def test_the_refund_policy_is_on_the_second_step_for_the_attendees_names(app, client, stripe_api, paid_event):
    response = post_form(client, f"/events/{paid_event.slug}/register",
                         {"name": "Ada Lovelace", "email": "ada@example.org",
                          f"quantity-{paid_event.paid_type_id}": "2"},
                         form_url=f"/events/{paid_event.slug}")
    assert response.status_code == 200
    text = text_of(html_of(response))
    assert "One more step." in text and POLICY in text
    assert counts(app)["orders"] == 0  # nothing written before the names are in
