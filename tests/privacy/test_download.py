"""Her data, downloaded from her ticket page: everything about her, nothing about others beyond
what was already shared with her, and no secrets."""
from __future__ import annotations

import json

from eventsite.extensions import db
from eventsite.registration.models import Order
from eventsite.registration.services import register_attendees
from tests.factories import make_event, make_organizer, make_ticket_type
from tests.privacy.conftest import ADA


def _download(client, token):
    response = client.get(f"/tickets/{token}/data.json")
    assert response.status_code == 200, response.status_code
    return response


def test_the_file_holds_her_orders_tickets_answers_profile_consents_and_introductions(app, client, scene):
    response = _download(client, scene.order_token)
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.data)

    assert data["email"] == ADA
    [order] = data["orders"]
    assert order["code"] == scene.order_code and order["buyer_name"] == "Ada Lovelace"
    assert [t["attendee_name"] for t in order["tickets"]] == ["Ada Lovelace", "Grace Guest"]
    assert order["answers"] == [{"question": "Dietary requirements", "answer": "no nuts please"}]
    [profile] = data["networking_profiles"]
    assert profile["intro"] == "Ada Lovelace says hello." and profile["offers"] == ["Hiring"]
    consents = {c["consent"]: c for c in data["consents"]}
    assert consents["organizer_terms"]["terms_url"] == "https://example.org/terms"
    assert consents["networking_suggestions"]["given"] is True
    assert consents["networking_emails"]["given"] is True

    made, requested = sorted(profile["introductions"], key=lambda i: i["status"])
    assert made["status"] == "made" and made["with"] == {"name": "Dana Scully", "email": "dana@example.org"}
    assert requested["status"] == "requested" and requested["with"] == "another attendee"


def test_nothing_about_others_and_no_secrets(app, client, scene):
    body = _download(client, scene.order_token).get_data(as_text=True)
    # Erin asked for an introduction that Ada has not accepted: Erin was never shown to her.
    assert "Erin" not in body and "erin@example.org" not in body
    with app.app_context():
        order = db.session.get(Order, scene.order_id)
        secrets = [order.token, *(t.secret for t in order.tickets)]
    for secret in secrets:
        assert secret not in body
    assert scene.dana_token not in body


def test_only_this_organization_and_only_her_email(app, client, scene):
    """Her registration with another organizer is that organizer's data, not in this file."""
    with app.app_context():
        other = make_organizer("someone-else@example.org")
        ev = make_event(other.memberships[0].organization_id, slug="other-org-evening", title="Other Org Evening")
        tt = make_ticket_type(ev)
        register_attendees(ev, buyer_name="Ada Lovelace", buyer_email=ADA, quantities={tt.id: 1})
        db.session.commit()
    data = json.loads(_download(client, scene.order_token).data)
    assert [o["event"]["slug"] for o in data["orders"]] == [scene.slug]
    assert "Other Org Evening" not in json.dumps(data)


def test_ticket_page_links_to_the_download_and_to_deleting_the_profile(client, scene):
    page = client.get(f"/tickets/{scene.order_token}").get_data(as_text=True)
    assert f"/tickets/{scene.order_token}/data.json" in page
    assert f"/tickets/{scene.order_token}/networking/delete" in page


def test_unknown_token_is_404(client, scene):
    assert client.get("/tickets/not-a-real-token/data.json").status_code == 404
