"""The world the access matrix runs in, and the requests it makes: one organization ("A") with an
event, its team (owner, organizer, door staff of the event, door staff of another event of A), an
outsider who organizes organization B, and an attendee of the event with her private links.

Every role gets a fresh world (the matrix is parametrized by role; each test starts from empty
tables), so what one role's POSTs change cannot change another role's answers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from eventsite.accounts import team
from eventsite.accounts.models import Membership, Role, User
from eventsite.accounts.services import create_api_token
from eventsite.connections import event_settings, links, profiles
from eventsite.core.db import utcnow
from eventsite.extensions import db
from eventsite.registration.models import Order
from eventsite.registration.services import register_attendees
from eventsite.registration.waitlist import join_waitlist
from tests.factories import (
    PASSWORD,
    make_event,
    make_member,
    make_organizer,
    make_question,
    make_ticket_type,
)

ROLES = ("anonymous", "attendee", "door", "other_door", "outsider", "organizer", "owner")
EMAILS = {
    "door": "door@alpha.example.org",
    "other_door": "other-door@alpha.example.org",
    "outsider": "owner@beta.example.org",
    "organizer": "organizer@alpha.example.org",
    "owner": "owner@alpha.example.org",
}
FAKE_TOKEN = "Z" * 26  # well formed, matches nothing
UNKNOWN_INT = 2_000_000_000
_PARAM_RE = re.compile(r"<(?:(?P<conv>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")


@dataclass
class World:
    values: dict[str, object]
    tokens: dict[str, str]  # endpoint -> the attendee's real token for its <token>
    api_tokens: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, dict[str, object]] = field(default_factory=dict)  # endpoint -> URL values of its own
    forms: dict[str, dict[str, object]] = field(default_factory=dict)  # endpoint -> POST fields besides CSRF


def build_world() -> World:
    """Everything committed; call inside an app context."""
    owner = make_organizer(EMAILS["owner"], name="Alpha Owner")
    org_id = owner.memberships[0].organization_id
    make_organizer(EMAILS["outsider"], name="Beta Owner")
    event = make_event(org_id, title="Alpha Gala", slug="alpha-gala")
    other_event = make_event(org_id, title="Alpha Breakfast", slug="alpha-breakfast")
    free = make_ticket_type(event, name="Free seat", capacity=100, max_per_order=5)
    paid = make_ticket_type(event, name="Supporter", price_cents=2500, currency="EUR", capacity=50)
    full = make_ticket_type(event, name="Front row", capacity=1)
    question = make_question(event, label="Dietary requirements")
    make_member(org_id, Role.ORGANIZER, EMAILS["organizer"])
    door = make_member(org_id, Role.CHECKIN, EMAILS["door"], events=[event])
    make_member(org_id, Role.CHECKIN, EMAILS["other_door"], events=[other_event])
    event_settings.update_settings(event, enabled=True, audience="checked_in", tags="Hiring\nFundraising",
                                   steps={"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)})

    now = utcnow()
    order = register_attendees(event, buyer_name="Ada Attendee", buyer_email="ada@example.org",
                               quantities={free.id: 1}, now=now)
    other = register_attendees(event, buyer_name="Bea Peer", buyer_email="bea@example.org",
                               quantities={free.id: 1}, now=now)
    register_attendees(event, buyer_name="Cy Front", buyer_email="cy@example.org", quantities={full.id: 1}, now=now)
    paid_order = register_attendees(event, buyer_name="Ada Attendee", buyer_email="ada.paid@example.org",
                                    quantities={paid.id: 1}, now=now)
    entry = join_waitlist(event, name="Ada Attendee", email="ada.wait@example.org", ticket_type=full.id, quantity=1,
                          now=now)
    mine = profiles.save_profile(order, {"intro": "Ada says hello.", "offers": ["Hiring"], "asks": ["Fundraising"],
                                         "consent": True}, now=now)
    peer = profiles.save_profile(other, {"intro": "Bea says hello.", "offers": ["Fundraising"], "asks": ["Hiring"],
                                         "consent": True}, now=now)
    invitation, _ = team.invite_member(org_id, "invitee@example.org", "organizer", actor=owner)
    db.session.commit()
    from eventsite.checkin.services import check_in

    scan = check_in(other.tickets[0].secret, event=event, staff=owner, door="Main", now=now)
    db.session.commit()

    from eventsite.payments import services as payment_services
    from eventsite.payments.checkout import start_checkout

    start_checkout(paid_order, now=now)
    db.session.commit()
    payment = payment_services.payment_for(paid_order)

    api_tokens = {}
    for role, email in EMAILS.items():
        user = db.session.scalar(select(User).where(User.email == email))
        api_tokens[role] = create_api_token(user, f"{role} token")[1]
    owner_token, _ = create_api_token(owner, "Owner's own token")
    db.session.commit()

    door_membership = db.session.scalar(select(Membership).where(Membership.user_id == door.id))
    ticket = order.tickets[0]
    values = {
        "slug": event.slug, "ticket_type_id": free.id, "question_id": question.id, "code": order.code,
        "ticket_id": ticket.id, "membership_id": door_membership.id, "invitation_id": invitation.id,
        "token_id": owner_token.id, "organization_id": org_id, "step": "day_after", "n": 1,
        "secret": ticket.secret, "session_id": payment.checkout_session_id if payment else FAKE_TOKEN,
        "name": "no-such-message", "cid": "none", "index": 0, "filename": "covers/none.png",
    }
    soon = now + timedelta(seconds=1)
    tokens = {
        "registration.ticket": order.token, "registration.ticket_ics": order.token,
        "registration.cancel_ticket": order.token, "registration.rename": order.token,
        "registration.cancel_order": order.token, "registration.ticket_qr": order.token,
        "connections.profile": order.token, "privacy.download": order.token, "connections.delete_profile": order.token,
        "payments.order_page_for_ticket": paid_order.token, "payments.cancel_order": paid_order.token,
        "payments.order_page": payment.token if payment else FAKE_TOKEN,
        "payments.pay": payment.token if payment else FAKE_TOKEN,
        "payments.release": payment.token if payment else FAKE_TOKEN,
        "waitlist.show": entry.token, "waitlist.claim": entry.token, "waitlist.leave": entry.token,
        "connections.request_introduction": links.make_token("introduce", mine.id, peer.id, key=mine.link_key, now=soon),
        "connections.preferences": links.make_token("preferences", mine.id, key=mine.link_key, now=soon),
        "connections.set_consent": links.make_token("preferences", mine.id, key=mine.link_key, now=soon),
        "connections.set_emails": links.make_token("preferences", mine.id, key=mine.link_key, now=soon),
        "connections.delete_from_preferences": links.make_token("preferences", mine.id, key=mine.link_key, now=soon),
        "connections.unsubscribe": links.make_token("unsubscribe", mine.id, key=mine.link_key, now=soon),
    }
    assert db.session.scalar(select(Order).where(Order.id == order.id)) is not None
    overrides = {"manage_payments.refund": {"code": paid_order.code}}
    forms = {"checkin.undo": {"scan_id": scan.scan_id}}
    return World(values, tokens, api_tokens, overrides, forms)


def url_for_rule(rule, world: World, role: str) -> str:
    """The rule's path filled with the world's ids; <token> is the attendee's real token for the
    attendee, a well-formed token that matches nothing for everyone else (they do not hold it)."""
    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name == "token":
            return world.tokens.get(rule.endpoint, FAKE_TOKEN) if role == "attendee" else FAKE_TOKEN
        if name == "session_id":  # the dev payment page's id: only she was sent there
            return str(world.values["session_id"]) if role == "attendee" else FAKE_TOKEN
        if name in world.overrides.get(rule.endpoint, {}):
            return str(world.overrides[rule.endpoint][name])
        if name in world.values:
            return str(world.values[name])
        return str(UNKNOWN_INT) if m.group("conv") == "int" else "unknown"

    return _PARAM_RE.sub(fill, rule.rule)


def password_for(role: str) -> str:
    return PASSWORD
