"""Deleting her networking profile removes it from the database, not just from view."""
from __future__ import annotations

from tests.conftest import post_form
from tests.privacy.conftest import everything_mentions, raw


def test_profile_row_is_gone_and_introductions_keep_no_trace_of_her(app, client, scene):
    url = f"/tickets/{scene.order_token}/networking/delete"
    response = post_form(client, url, {})
    assert response.status_code == 303
    with app.app_context():
        assert raw("SELECT id FROM networking_profiles WHERE id = :id", id=scene.ada_profile_id) == []
        assert everything_mentions("Ada Lovelace says hello") == []
        assert everything_mentions("Ada Lovelace GmbH") == []
        # Her introductions stay as counts with her side emptied; nobody else's profile went.
        sides = raw("SELECT first_id, second_id FROM introductions ORDER BY id")
        assert len(sides) == 2 and all(scene.ada_profile_id not in pair for pair in sides)
        assert raw("SELECT count(*) FROM networking_profiles")[0][0] == 2
