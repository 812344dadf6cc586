"""The organizer's Follow-up tab: the plan, previews (rendered, not sent) and the outcome figures."""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from eventsite.accounts.models import Role
from eventsite.connections import event_settings, profiles
from eventsite.connections.models import (
    ConnectionSettings,
    Introduction,
    NetworkingProfile,
    Outcome,
)
from eventsite.core.mail.models import OutboxMessage
from eventsite.extensions import db
from tests.conftest import csrf_from, login
from tests.connections.conftest import (
    DAY_AFTER_DUE,
    ENDS,
    KEEP_IN_TOUCH_DUE,
    RECONNECT_DUE,
    STARTS,
    TAGS,
    attendee,
    in_app,
    page_text,
)
from tests.connections.helpers import outbox, post, request_link
from tests.factories import make_event, make_member, make_organizer, make_ticket_type
from tests.registration.views_helpers import field_error, html_of


@pytest.fixture
def past(app, organizer):
    def build():
        ev = make_event(organizer["organization_id"], title="Spring Breakfast", slug="spring-breakfast",
                        starts_at=STARTS, ends_at=ENDS)
        make_ticket_type(ev)
        event_settings.update_settings(ev, enabled=True, audience="checked_in", tags="\n".join(TAGS),
                                 steps={"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)})
        db.session.commit()
        real = attendee(ev, "Rosalind Real", offers=["Hiring"], asks=["Fundraising"], company="Real Co")
        return {"slug": ev.slug, "id": ev.id, "real": real.__dict__}
    return in_app(app, build)


def test_the_tab_shows_the_plan_in_the_events_zone(organizer_client, past, clock):
    page = organizer_client.get(f"/organizer/events/{past['slug']}/follow-up")
    assert page.status_code == 200
    html = html_of(page)
    assert re.search(r'<a href="/organizer/events/spring-breakfast/follow-up" aria-current="page">Follow-up</a>', html)
    text = page_text(page)
    for due in (DAY_AFTER_DUE, KEEP_IN_TOUCH_DUE, RECONNECT_DUE):  # all at 10:00 in Berlin, summer time or not
        assert due.astimezone(ZoneInfo("Europe/Berlin")).strftime("%a %d %b %Y, 10:00") in text
    assert "Europe/Berlin" in text
    assert 'name="tags"' in html and "Negotiating a raise\nBoard governance" in html


def test_saving_the_plan_and_refusing_bad_input(app, organizer_client, past):
    url = f"/organizer/events/{past['slug']}/follow-up"
    csrf = csrf_from(organizer_client.get(url).data)
    ok = organizer_client.post(url, data={
        "csrf_token": csrf, "enabled": "y", "audience": "registered", "tags": "Mentoring\nmentoring\n Investing ",
        "day_after_on": "y", "day_after_days": "2", "keep_in_touch_days": "30", "reconnect_on": "y",
        "reconnect_days": "60", "send_hour": "9",
    })
    assert ok.status_code == 303
    s = in_app(app, lambda: db.session.get(ConnectionSettings, past["id"]))
    assert (s.audience.value, s.tags, s.day_after_days, s.keep_in_touch_on, s.reconnect_days, s.send_hour) == (
        "registered", ["Mentoring", "Investing"], 2, False, 60, 9)
    bad = organizer_client.post(url, data={
        "csrf_token": csrf, "enabled": "y", "audience": "checked_in", "tags": "<i>x</i>",
        "day_after_on": "y", "day_after_days": "10", "keep_in_touch_on": "y", "keep_in_touch_days": "5",
        "reconnect_on": "y", "reconnect_days": "abc", "send_hour": "24",
    })
    assert bad.status_code == 422
    html = html_of(bad)
    assert "must come after" in field_error(html, "keep_in_touch_days")
    assert "whole number" in field_error(html, "reconnect_days")
    assert "0 to 23" in field_error(html, "send_hour")
    assert "plain text" in field_error(html, "tags")
    assert in_app(app, lambda: db.session.get(ConnectionSettings, past["id"]).send_hour) == 9  # unchanged


def test_previews_are_rendered_for_made_up_people_and_never_sent(app, organizer_client, past):
    for step, subject in (("day_after", "People worth keeping in touch with from Spring Breakfast"),
                          ("keep_in_touch", "Keep in touch: a month after Spring Breakfast"),
                          ("reconnect", "Time to reconnect: three months after Spring Breakfast")):
        page = organizer_client.get(f"/organizer/events/{past['slug']}/follow-up/preview/{step}")
        assert page.status_code == 200 and subject in page_text(page)
        assert "Dana Sample" in page_text(page) and "Rosalind" not in page_text(page)
        frame = organizer_client.get(f"/organizer/events/{past['slug']}/follow-up/preview/{step}/html")
        assert frame.status_code == 200 and frame.mimetype == "text/html"
        assert "sandbox" in frame.headers["Content-Security-Policy"] and "script-src" not in frame.headers["Content-Security-Policy"]
        body = frame.get_data(as_text=True)
        assert "I'd like an introduction" in body and "Rosalind" not in body and "<img" not in body  # no pixel
    assert organizer_client.get(f"/organizer/events/{past['slug']}/follow-up/preview/nope").status_code == 404
    keys = in_app(app, lambda: list(db.session.scalars(select(OutboxMessage.key))))
    assert not any(k.startswith("followup:") for k in keys)  # nothing was queued


def test_outcome_figures(app, client, organizer_client, past, clock):
    from eventsite.core.tasks import run_due_tasks

    def more():
        from eventsite.events.models import Event

        ev = db.session.get(Event, past["id"])
        a = attendee(ev, "Ada Lovelace", offers=["Board governance"], asks=["Negotiating a raise"], company="A")
        d = attendee(ev, "Dana Okafor", offers=["Negotiating a raise"], asks=["Board governance"], company="D")
        run_due_tasks(DAY_AFTER_DUE)
        return a.__dict__, d.__dict__
    ada, dana = in_app(app, more)
    post(client, request_link(app, ada, "Dana Okafor"))
    post(client, request_link(app, dana, "Ada Lovelace"))

    def report():
        intro = db.session.scalar(select(Introduction))
        intro.first_outcome = Outcome.USEFUL
        p = db.session.get(NetworkingProfile, past["real"]["profile_id"])
        profiles.unsubscribe(p, now=DAY_AFTER_DUE + timedelta(days=1))
        db.session.commit()
    in_app(app, report)
    page = organizer_client.get(f"/organizer/events/{past['slug']}/follow-up")
    html = html_of(page)
    figure = lambda name: int(re.search(rf'id="fig-{name}">(\d+)<', html).group(1))
    sent = len([m for m in outbox(app) if m["key"].startswith("followup:")])
    assert figure("emails") == sent == 2  # Rosalind unsubscribed before hers went out
    assert (figure("requested"), figure("made"), figure("meetings"), figure("unsubscribed")) == (1, 1, 1, 1)
    assert "1 useful" in page_text(page)
    for name in ("Ada", "Dana", "Rosalind"):
        assert name not in page_text(page)  # figures only, nobody's profile


def test_only_managers_of_the_organization(app, past):
    def people():
        outsider = make_organizer("outsider@example.org")
        staff = make_member(db.session.scalar(select(ConnectionSettings)).event.organization_id, Role.CHECKIN,
                            "door@example.org")
        return outsider.email, staff.email
    outsider, door = in_app(app, people)
    for email, status in ((outsider, 404), (door, 404)):
        c = app.test_client()
        login(c, email)
        for path in ("", "/preview/day_after", "/preview/day_after/html"):
            assert c.get(f"/organizer/events/{past['slug']}/follow-up{path}").status_code == status
    anonymous = app.test_client().get(f"/organizer/events/{past['slug']}/follow-up")
    assert anonymous.status_code in (302, 401)
