"""The team page: members and roles, owners change them, door staff get their events."""
from __future__ import annotations

from sqlalchemy import select

from eventsite.accounts.models import Membership, Role
from eventsite.events.models import CheckinAssignment
from eventsite.extensions import db
from tests.conftest import csrf_from, login, post_form
from tests.factories import make_event, make_member, make_organizer


def _membership(app, user_id: int, organization_id: int) -> Membership | None:
    with app.app_context():
        m = db.session.scalar(select(Membership).where(Membership.user_id == user_id,
                                                       Membership.organization_id == organization_id))
        if m is not None:
            db.session.expunge(m)
        return m


def _team(app, organizer):
    """Olivia owns the organization; Otto organizes; Dora works the door."""
    with app.app_context():
        otto = make_member(organizer["organization_id"], Role.ORGANIZER, "otto@example.org")
        dora = make_member(organizer["organization_id"], Role.CHECKIN, "dora@example.org")
        ids = {"otto": otto.id, "dora": dora.id}
        ids["otto_m"] = otto.memberships[0].id
        ids["dora_m"] = dora.memberships[0].id
        db.session.remove()
    return ids


def test_team_page_lists_members_with_roles(app, organizer_client, organizer):
    _team(app, organizer)
    html = organizer_client.get("/organizer/team").data.decode()
    for text in ("Olivia Owner", "otto@example.org", "dora@example.org", "Send invitation", "Pending invitations"):
        assert text in html, text
    # Each member has a labelled role choice with her current role selected.
    assert html.count('<option value="owner" selected>') == 1
    assert html.count('<option value="organizer" selected>') == 1
    assert html.count('<option value="checkin" selected>') == 1
    assert "Choose events" in html  # for the door staff


def test_non_owners_see_the_team_read_only(app, organizer):
    _team(app, organizer)
    client = app.test_client()
    login(client, "otto@example.org")
    html = client.get("/organizer/team").data.decode()
    assert "Olivia Owner" in html and "dora@example.org" in html and "Check-in staff" in html
    assert "only owners can change the team" in html
    assert "Send invitation" not in html and "<select" not in html and "Remove" not in html


def test_owner_changes_a_role(app, organizer_client, organizer):
    ids = _team(app, organizer)
    response = post_form(organizer_client, f"/organizer/team/members/{ids['otto_m']}/role", {"role": "checkin"},
                         form_url="/organizer/team")
    assert response.status_code == 303
    assert _membership(app, ids["otto"], organizer["organization_id"]).role == Role.CHECKIN
    assert "is now check-in staff" in organizer_client.get("/organizer/team").data.decode()


def test_a_bad_role_is_refused(app, organizer_client, organizer):
    ids = _team(app, organizer)
    response = post_form(organizer_client, f"/organizer/team/members/{ids['otto_m']}/role", {"role": "admin"},
                         form_url="/organizer/team")
    assert response.status_code == 422
    assert b"Choose owner, organizer or check-in staff." in response.data
    assert _membership(app, ids["otto"], organizer["organization_id"]).role == Role.ORGANIZER


def test_the_last_owner_can_be_neither_demoted_nor_removed(app, organizer_client, organizer):
    mine = _membership(app, organizer["id"], organizer["organization_id"])
    demote = post_form(organizer_client, f"/organizer/team/members/{mine.id}/role", {"role": "organizer"},
                       form_url="/organizer/team")
    assert demote.status_code == 409
    assert b"An organization needs at least one owner." in demote.data
    remove = post_form(organizer_client, f"/organizer/team/members/{mine.id}/remove", {})
    assert remove.status_code == 409
    assert _membership(app, organizer["id"], organizer["organization_id"]).role == Role.OWNER


def test_with_two_owners_one_may_step_down(app, organizer_client, organizer):
    ids = _team(app, organizer)
    post_form(organizer_client, f"/organizer/team/members/{ids['otto_m']}/role", {"role": "owner"}, form_url="/organizer/team")
    mine = _membership(app, organizer["id"], organizer["organization_id"])
    response = post_form(organizer_client, f"/organizer/team/members/{mine.id}/role", {"role": "organizer"},
                         form_url="/organizer/team")
    assert response.status_code == 303
    assert _membership(app, organizer["id"], organizer["organization_id"]).role == Role.ORGANIZER
    # Now she is no owner: the team page is read-only for her and changes are refused.
    html = organizer_client.get("/organizer/team").data.decode()
    assert "Send invitation" not in html
    page = organizer_client.get("/organizer/team")
    refused = organizer_client.post(f"/organizer/team/members/{ids['dora_m']}/role",
                                    data={"csrf_token": csrf_from(page.data), "role": "owner"})
    assert refused.status_code == 403
    assert _membership(app, ids["dora"], organizer["organization_id"]).role == Role.CHECKIN


def test_owner_removes_a_member_after_confirming(app, organizer_client, organizer):
    ids = _team(app, organizer)
    confirm = organizer_client.get(f"/organizer/team/members/{ids['otto_m']}/remove")
    assert confirm.status_code == 200
    assert b"Remove Team Member from" in confirm.data
    assert _membership(app, ids["otto"], organizer["organization_id"]) is not None  # GET changes nothing
    response = organizer_client.post(f"/organizer/team/members/{ids['otto_m']}/remove",
                                     data={"csrf_token": csrf_from(confirm.data)})
    assert response.status_code == 303
    assert _membership(app, ids["otto"], organizer["organization_id"]) is None
    # Her session no longer reaches the organization.
    otto = app.test_client()
    login(otto, "otto@example.org")
    assert b"You are not on any team yet." in otto.get("/organizer/team").data


def test_owner_chooses_the_events_of_door_staff(app, organizer_client, organizer):
    ids = _team(app, organizer)
    with app.app_context():
        gala = make_event(organizer["organization_id"], title="Spring Gala")
        breakfast = make_event(organizer["organization_id"], title="Leadership Breakfast")
        elsewhere = make_event(make_organizer("rival@example.org").memberships[0].organization_id, title="Rival Night")
        gala_id, breakfast_id, elsewhere_id = gala.id, breakfast.id, elsewhere.id

    page = organizer_client.get(f"/organizer/team/members/{ids['dora_m']}/events")
    html = page.data.decode()
    assert page.status_code == 200
    assert "Spring Gala" in html and "Leadership Breakfast" in html and "Rival Night" not in html
    assert f'<label for="event_ids-0">' in html

    response = organizer_client.post(f"/organizer/team/members/{ids['dora_m']}/events",
                                     data={"csrf_token": csrf_from(page.data), "event_ids": [str(gala_id)]})
    assert response.status_code == 303
    with app.app_context():
        rows = db.session.scalars(select(CheckinAssignment.event_id).where(CheckinAssignment.membership_id == ids["dora_m"])).all()
    assert rows == [gala_id]
    assert "checked" in organizer_client.get(f"/organizer/team/members/{ids['dora_m']}/events").data.decode()

    # Swap to the other event; another organization's event is refused.
    response = organizer_client.post(f"/organizer/team/members/{ids['dora_m']}/events",
                                     data={"csrf_token": csrf_from(page.data), "event_ids": [str(breakfast_id)]})
    assert response.status_code == 303
    bad = organizer_client.post(f"/organizer/team/members/{ids['dora_m']}/events",
                                data={"csrf_token": csrf_from(page.data), "event_ids": [str(elsewhere_id)]})
    assert bad.status_code == 422
    with app.app_context():
        rows = db.session.scalars(select(CheckinAssignment.event_id).where(CheckinAssignment.membership_id == ids["dora_m"])).all()
    assert rows == [breakfast_id]

    # Door staff only reach their assigned event.
    from eventsite.accounts.models import User
    from eventsite.events.access import event_for

    with app.app_context():
        dora = db.session.get(User, ids["dora"])
        assert event_for(dora, db.session.get(type(gala), breakfast_id).slug, roles=(Role.CHECKIN,)).id == breakfast_id


def test_organizers_have_no_door_assignment_page(app, organizer_client, organizer):
    ids = _team(app, organizer)
    response = organizer_client.get(f"/organizer/team/members/{ids['otto_m']}/events")
    assert response.status_code == 409
    assert b"Only check-in staff are assigned to events" in response.data


def test_door_staff_do_not_see_the_team(app, organizer):
    with app.app_context():
        event = make_event(organizer["organization_id"], title="Spring Gala")
        make_member(organizer["organization_id"], Role.CHECKIN, "door@example.org", events=[event])
    door = app.test_client()
    login(door, "door@example.org")
    html = door.get("/organizer/team").get_data(as_text=True)
    assert "Teams are managed by their owners" in html
    assert organizer["email"] not in html  # no names or emails of the team
