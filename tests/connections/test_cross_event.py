"""People she was introduced to at an earlier event of the organization, who are coming too."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from eventsite.connections import event_settings, introductions, profiles
from eventsite.connections.models import NetworkingProfile
from eventsite.core.tasks import run_due_tasks
from eventsite.extensions import db
from tests.connections.conftest import (
    DAY_AFTER_DUE,
    ENDS,
    STARTS,
    TAGS,
    UTC,
    YEAR,
    attendee,
    in_app,
    page_text,
)
from tests.factories import make_event, make_organizer, make_ticket_type

AUTUMN = datetime(YEAR + 1, 5, 14, 16, 0, tzinfo=UTC)  # 14 months after the spring breakfast


def _introduce(a, b):
    pa, pb = db.session.get(NetworkingProfile, a.profile_id), db.session.get(NetworkingProfile, b.profile_id)
    introductions.request_introduction(pa, pb, now=DAY_AFTER_DUE)
    introductions.request_introduction(pb, pa, now=DAY_AFTER_DUE)
    db.session.commit()


def test_the_ticket_page_points_out_people_she_met_who_are_coming(app, client, clock):
    def build():
        org = make_organizer("host@example.org").memberships[0].organization_id
        steps = {"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)}
        spring = make_event(org, title="Spring Breakfast", slug="spring-breakfast", starts_at=STARTS, ends_at=ENDS)
        make_ticket_type(spring)
        event_settings.update_settings(spring, enabled=True, audience="checked_in", tags="\n".join(TAGS), steps=steps)
        people = {
            "ada": attendee(spring, "Ada Lovelace", email="ada@example.org", offers=["Board governance", "Hiring"],
                            asks=["Negotiating a raise", "Fundraising"], company="A"),
            "dana": attendee(spring, "Dana Okafor", email="dana@example.org", offers=["Negotiating a raise"],
                             asks=["Board governance"], company="D"),
            "grace": attendee(spring, "Grace Hopper", email="grace@example.org", offers=["Fundraising"],
                              asks=["Hiring"], company="G"),
            "erin": attendee(spring, "Erin Example", email="erin@example.org", offers=["Negotiating a raise"],
                             asks=["Hiring"], company="E"),
        }
        run_due_tasks(DAY_AFTER_DUE)
        _introduce(people["ada"], people["dana"])
        _introduce(people["ada"], people["grace"])
        autumn = make_event(org, title="Autumn Evening", slug="autumn-evening", starts_at=AUTUMN,
                            ends_at=AUTUMN.replace(hour=19))
        make_ticket_type(autumn)
        event_settings.update_settings(autumn, enabled=True, audience="checked_in", tags="\n".join(TAGS), steps=steps)
        ada2 = attendee(autumn, "Ada Lovelace", email="ada@example.org", checked_in=False)
        attendee(autumn, "Dana Okafor", email="dana@example.org", checked_in=False)  # coming, consenting
        attendee(autumn, "Grace Hopper", email="grace@example.org", checked_in=False, consent=False)  # coming, no consent
        attendee(autumn, "Erin Example", email="erin@example.org", checked_in=False)  # coming, never introduced
        return ada2.order_token, people

    token, _ = in_app(app, build)
    clock.set(datetime(YEAR + 1, 5, 12, 9, 0, tzinfo=UTC))
    text = page_text(client.get(f"/tickets/{token}"))
    assert "People you know who are coming too" in text
    assert "You were introduced to Dana Okafor at Spring Breakfast, 14 months ago; Dana is coming too." in text
    assert "Grace" not in text  # coming, but she did not agree to be shown at this event
    assert "Erin" not in text  # coming, but they were never introduced

    # If Ada herself does not agree to be suggested this time, she does not see others either.
    def withdraw():
        p = db.session.scalar(select(NetworkingProfile).join(NetworkingProfile.event).where(
            NetworkingProfile.email == "ada@example.org", NetworkingProfile.event.has(slug="autumn-evening")))
        profiles.set_consent(p, False)
        db.session.commit()
    in_app(app, withdraw)
    assert "Dana" not in page_text(client.get(f"/tickets/{token}"))
