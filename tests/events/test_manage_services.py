"""The service rules the editor added: who may create events, cover names, ordering, reserved slugs."""
from __future__ import annotations

from datetime import timedelta

import pytest

from eventsite.accounts.models import Role
from eventsite.core.db import utcnow
from eventsite.core.errors import PermissionDeniedError, ValidationError
from eventsite.events import services
from eventsite.extensions import db
from tests.factories import make_event, make_member, make_organizer


def _data(**kw):
    starts = utcnow() + timedelta(days=30)
    return {"title": "Breakfast", "starts_at": starts, "ends_at": starts + timedelta(hours=2),
            "timezone": "Europe/London", **kw}


def test_only_owners_and_organizers_create_events_in_an_organization(ctx):
    owner = make_organizer("o@example.org")
    org = owner.memberships[0].organization_id
    door = make_member(org, Role.CHECKIN, "d@example.org")
    outsider = make_organizer("x@example.org")
    with pytest.raises(PermissionDeniedError):
        services.create_event(org, _data(), actor=door)
    with pytest.raises(PermissionDeniedError):
        services.create_event(org, _data(), actor=outsider)
    assert services.create_event(org, _data(), actor=owner).organization_id == org


def test_cover_image_accepts_only_names_the_upload_code_makes(ctx):
    owner = make_organizer()
    org = owner.memberships[0].organization_id
    event = services.create_event(org, _data(), actor=owner)
    for bad in ("../../etc/passwd", "cover.png", "ABCDEF0123456789abcdef0123456789.png", 42):
        with pytest.raises(ValidationError) as e:
            services.update_event(event, {"cover_image": bad}, actor=owner)
        assert "cover_image" in e.value.errors
    services.update_event(event, {"cover_image": "0123456789abcdef0123456789abcdef.webp"}, actor=owner)
    assert event.cover_image == "0123456789abcdef0123456789abcdef.webp"
    services.update_event(event, {"cover_image": None}, actor=owner)
    assert event.cover_image is None


def test_new_is_never_a_slug(ctx):
    owner = make_organizer()
    org = owner.memberships[0].organization_id
    assert services.create_event(org, _data(title="New"), actor=owner).slug == "new-2"
    with pytest.raises(ValidationError):
        services.create_event(org, _data(slug="new"), actor=owner)


def test_moving_renumbers_and_new_items_go_last_after_a_delete(ctx):
    owner = make_organizer()
    event = make_event(owner.memberships[0].organization_id)
    a, b, c = (services.add_ticket_type(event, {"name": n, "price_cents": 0, "capacity": 5}, actor=owner) for n in "abc")
    services.delete_ticket_type(b, actor=owner)
    db.session.commit()
    db.session.refresh(event)
    d = services.add_ticket_type(event, {"name": "d", "price_cents": 0, "capacity": 5}, actor=owner)
    assert d.position > c.position  # not len(...), which would tie with c
    services.move_ticket_type(d, -1, actor=owner)
    services.move_ticket_type(a, -1, actor=owner)  # already first: stays
    db.session.commit()
    db.session.refresh(event)
    assert [(t.name, t.position) for t in event.ticket_types] == [("a", 0), ("d", 1), ("c", 2)]
