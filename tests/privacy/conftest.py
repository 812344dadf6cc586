"""Personal-data fixtures: an event that ended, Ada with a two-ticket order, answers, terms consent,
a networking profile, one introduction made (to Dana) and one still only requested (from Erin),
plus raw-table helpers that read the database without the ORM (what is really stored)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import text

from eventsite.connections import event_settings, profiles
from eventsite.connections.models import Introduction, IntroductionStatus
from eventsite.core.db import utcnow
from eventsite.events.models import QuestionKind
from eventsite.extensions import db
from eventsite.registration.services import register_attendees
from tests.factories import make_event, make_question, make_ticket_type

ADA = "ada@example.org"


@dataclass
class Scene:
    slug: str
    order_code: str
    order_token: str
    order_id: int
    ticket_ids: list[int]
    ada_profile_id: int
    dana_token: str
    erin_profile_id: int
    ticket_type_id: int


def _person(ev, tt, name: str, email: str, now, **kw):
    order = register_attendees(ev, buyer_name=name, buyer_email=email, quantities={tt.id: kw.pop("seats", 1)},
                               now=now, **kw)
    profile = profiles.save_profile(order, {"intro": f"{name} says hello.", "company": f"{name} GmbH",
                                            "offers": ["Hiring"], "asks": ["Fundraising"], "consent": True}, now=now)
    return order, profile


@pytest.fixture
def scene(app, organizer) -> Scene:
    """Built in an app context of its own (requests must not share one: Flask-Login keeps the user in g)."""
    with app.app_context():
        result = _build_scene(organizer)
        db.session.remove()
    return result


def _build_scene(organizer) -> Scene:
    now = utcnow()
    ev = make_event(organizer["organization_id"], slug="ended-breakfast", title="Ended Breakfast",
                    starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=3),
                    terms_url="https://example.org/terms")
    tt = make_ticket_type(ev, name="Breakfast", capacity=50, price_cents=0)
    q = make_question(ev, label="Dietary requirements", kind=QuestionKind.SHORT_TEXT)
    event_settings.update_settings(ev, enabled=True, audience="registered", tags="Hiring\nFundraising",
                                   steps={"day_after": (True, 1), "keep_in_touch": (True, 30),
                                          "reconnect": (True, 90)}, send_hour=10)
    ada_order, ada = _person(ev, tt, "Ada Lovelace", ADA, now, seats=2,
                             attendees=[{"name": "Grace Guest", "email": "grace@example.org"}],
                             answers={str(q.id): "no nuts please"}, terms_accepted=True)
    dana_order, dana = _person(ev, tt, "Dana Scully", "dana@example.org", now)
    _, erin = _person(ev, tt, "Erin Secret", "erin@example.org", now)
    db.session.add(Introduction(event_id=ev.id, first_id=min(ada.id, dana.id), second_id=max(ada.id, dana.id),
                                requester_id=ada.id, status=IntroductionStatus.MADE, requested_at=now,
                                made_at=now, expires_at=now + timedelta(days=14)))
    db.session.add(Introduction(event_id=ev.id, first_id=min(ada.id, erin.id), second_id=max(ada.id, erin.id),
                                requester_id=erin.id, status=IntroductionStatus.REQUESTED, requested_at=now,
                                expires_at=now + timedelta(days=14)))
    db.session.commit()
    return Scene(ev.slug, ada_order.code, ada_order.token, ada_order.id, [t.id for t in ada_order.tickets],
                 ada.id, dana_order.token, erin.id, tt.id)


def raw(sql: str, **params) -> list[tuple]:
    """Rows straight from the database (no ORM, no identity map)."""
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def everything_mentions(needle: str) -> list[str]:
    """Every table.column whose stored text contains `needle` (case-insensitive), over all tables."""
    hits = []
    needle = needle.lower()
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(text(f'SELECT * FROM "{table.name}"')).mappings():
                for column, value in row.items():
                    if value is not None and needle in str(value).lower():
                        hits.append(f"{table.name}.{column}")
    return sorted(set(hits))
