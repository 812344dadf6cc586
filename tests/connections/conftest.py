"""Keep-in-touch fixtures: a past event in Europe/Berlin, attendees registered through the real
services with profiles, a frozen clock for the pages, and helpers to run the worker and read mail.

Time: the event ends on 10 March of YEAR (two years ahead, so that the outbox's real clock is always
before the frozen one) at 21:00 Berlin time (20:00 UTC). The day-after step is due on 11 March at
10:00 Berlin (09:00 UTC), keep-in-touch on 9 April 10:00 (summer time by then: 08:00 UTC),
reconnect on 8 June 10:00 (08:00 UTC). Services get `now` as an argument; the pages read the clock
through `eventsite.connections.views.utcnow`, which the `clock` fixture freezes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import delete, select, update

from eventsite.connections import event_settings, profiles
from eventsite.connections.models import NetworkingProfile
from eventsite.core.mail.deferred import NothingToSend, materialize
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.tasks import run_due_tasks
from eventsite.extensions import db
from eventsite.registration.models import Ticket
from eventsite.registration.services import register_attendees
from tests.factories import make_event, make_organizer, make_ticket_type

YEAR = datetime.now(UTC).year + 2
STARTS = datetime(YEAR, 3, 10, 17, 0, tzinfo=UTC)  # 18:00 in Berlin (CET: summer time starts late March)
ENDS = datetime(YEAR, 3, 10, 20, 0, tzinfo=UTC)  # 21:00 in Berlin
REGISTERED = STARTS - timedelta(days=5)
DAY_AFTER_DUE = datetime(YEAR, 3, 11, 9, 0, tzinfo=UTC)
KEEP_IN_TOUCH_DUE = datetime(YEAR, 4, 9, 8, 0, tzinfo=UTC)  # 10:00 CEST
RECONNECT_DUE = datetime(YEAR, 6, 8, 8, 0, tzinfo=UTC)
TAGS = ["Negotiating a raise", "Board governance", "Public speaking", "Fundraising", "Hiring", "AI strategy"]

_seq = count(1)


@pytest.fixture
def org_id(organizer) -> int:
    return organizer["organization_id"]


@pytest.fixture
def event(ctx, org_id):
    """The past event, with the tag list saved and one free ticket type."""
    ev = make_event(org_id, title="Spring Breakfast", slug="spring-breakfast", starts_at=STARTS, ends_at=ENDS,
                    timezone="Europe/Berlin")
    make_ticket_type(ev, name="Breakfast", capacity=500)
    set_plan(ev)
    db.session.commit()
    return ev


def set_plan(ev, **overrides):
    args = {
        "enabled": True, "audience": "checked_in", "tags": "\n".join(TAGS),
        "steps": {"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)}, "send_hour": 10,
    }
    args.update(overrides)
    event_settings.update_settings(ev, **args)
    db.session.commit()


@dataclass
class Person:
    profile_id: int
    order_token: str
    email: str
    name: str
    ticket_id: int


def attendee(ev, name: str, *, offers=(), asks=(), company: str = "", consent: bool = True,
             checked_in: bool = True, intro: str = "", email: str | None = None, linkedin: str = "",
             offers_text: str = "", asks_text: str = "") -> Person:
    """Register `name` for `ev` (before it started), save her profile, check her in."""
    n = next(_seq)
    email = email or f"{name.split()[0].lower()}{n}@example.org"
    order = register_attendees(ev, buyer_name=name, buyer_email=email, quantities={ev.ticket_types[0].id: 1},
                               now=min(REGISTERED, ev.starts_at - timedelta(days=1)))
    profile = profiles.save_profile(order, {
        "intro": intro or f"{name} says hello.", "company": company, "offers": list(offers), "asks": list(asks),
        "offers_text": offers_text, "asks_text": asks_text, "linkedin_url": linkedin, "consent": consent,
    }, now=REGISTERED)
    ticket = order.tickets[0]
    if checked_in:
        db.session.execute(update(Ticket).where(Ticket.id == ticket.id).values(checked_in_at=ev.starts_at + timedelta(minutes=5)))
    db.session.commit()
    return Person(profile.id, order.token, email, name, ticket.id)


def forget_registration_mail() -> None:
    """The confirmations of the set-up registrations are not what these tests read."""
    db.session.execute(delete(OutboxMessage))
    db.session.commit()


def outbox_keys() -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(select(OutboxMessage.key)))


def render_queued() -> int:
    """Write the content of the deferred rows (the follow-ups) as the delivery worker would before
    sending them, and commit; a row with nothing to send is left as it is. Returns rows rendered."""
    rendered = 0
    for row in db.session.scalars(select(OutboxMessage).where(OutboxMessage.renderer.is_not(None))
                                  .order_by(OutboxMessage.id)).all():
        try:
            with db.session.begin_nested():
                rendered += materialize(row)
        except NothingToSend:
            pass
    db.session.commit()
    return rendered


def outbox_to(email: str) -> list[OutboxMessage]:
    """The messages to `email`, their content rendered (see `render_queued`)."""
    db.session.expire_all()
    render_queued()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_addr.contains(email))
                                   .order_by(OutboxMessage.id)))


def profile(pid: int) -> NetworkingProfile | None:
    db.session.expire_all()
    return db.session.get(NetworkingProfile, pid)


LINK = re.compile(r"https?://[^\s\"'<>]+")


def links_in(text: str, path: str) -> list[str]:
    """The links of `text` to `path` (e.g. "/keep-in-touch/introduce/"), without the host."""
    out = []
    for url in LINK.findall(text):
        url = url.rstrip(".,)")
        if path in url:
            out.append(url[url.index(path):])
    return out


@pytest.fixture
def clock(monkeypatch):
    """Freeze the pages' clock: clock.set(moment)."""
    from eventsite.connections import hooks, views

    class Clock:
        now = DAY_AFTER_DUE

        def set(self, moment: datetime) -> None:
            self.now = moment

    c = Clock()
    monkeypatch.setattr(views, "utcnow", lambda: c.now)
    monkeypatch.setattr(hooks, "utcnow", lambda: c.now)
    return c


def in_app(app, fn, *args, **kwargs):
    """Run `fn` in a fresh application context (set-up and checks around client requests)."""
    with app.app_context():
        try:
            return fn(*args, **kwargs)
        finally:
            db.session.remove()


def page_text(response) -> str:
    """The visible text of a page: tags dropped, entities decoded, whitespace collapsed."""
    import html as _html

    body = response.get_data(as_text=True)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.DOTALL)
    return " ".join(_html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


@pytest.fixture
def world(app, clock):
    """Ada and Dana help each other; Grace helps Ada one way; Nora did not consent. The day-after
    emails are queued (not delivered: these tests read the outbox)."""
    def build():
        org = make_organizer("host@example.org").memberships[0].organization_id
        ev = make_event(org, title="Spring Breakfast", slug="spring-breakfast", starts_at=STARTS, ends_at=ENDS)
        make_ticket_type(ev, capacity=100)
        event_settings.update_settings(ev, enabled=True, audience="checked_in", tags="\n".join(TAGS),
                                 steps={"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)})
        db.session.commit()
        people = {
            "ada": attendee(ev, "Ada Lovelace", company="Analytical", offers=["Board governance"],
                            asks=["Negotiating a raise"], linkedin="https://www.linkedin.com/in/ada"),
            "dana": attendee(ev, "Dana Okafor", company="Okafor & Co", offers=["Negotiating a raise"],
                             asks=["Board governance"]),
            "grace": attendee(ev, "Grace Hopper", company="Navy", offers=["Negotiating a raise"], asks=["Hiring"]),
            "nora": attendee(ev, "Nora Noconsent", company="Quiet", offers=["Board governance"],
                             asks=["Negotiating a raise"], consent=False),
        }
        forget_registration_mail()
        run_due_tasks(DAY_AFTER_DUE)
        return {k: v.__dict__ for k, v in people.items()}

    return in_app(app, build)
