"""Networking profiles: saving one (from the registration form or the ticket page), consent,
unsubscribe and preferences, deletion, and who may be shown to whom.

Conventions (ARCHITECTURE.md): plain arguments in, `now` as an argument (tests freeze it), `flush()`
only (the view, the CLI or the worker commits once), `ValidationError` with the form's field names on
bad input, other refusals as `DomainError`s with a code.

Consent, everywhere: a person is *reachable* when she consented to be suggested and did not
unsubscribe (`NetworkingProfile.reachable`), and her ticket still admits her (valid, order confirmed):
`can_be_shown`. Every function of this domain that shows one person to another, or writes to one
about another, checks both sides at that moment (see `introductions`).

Withdrawing consent, unsubscribing or deleting the profile ends her open introduction requests
quietly and removes emails to her still waiting in the outbox; deleting also removes unsent ones that
would show her to someone else.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from eventsite.connections import emails, links
from eventsite.connections.cleaning import (
    COMPANY_MAX,
    INTRO_MAX,
    SENTENCE_MAX,
    clean_tags,
    clean_text,
    clean_url,
    truthy,
)
from eventsite.connections.event_settings import networking_open, settings_for
from eventsite.connections.links import LinkInvalidError
from eventsite.connections.models import (
    STEPS,
    FollowUpRun,
    Introduction,
    IntroductionStatus,
    NetworkingProfile,
)
from eventsite.core.db import utcnow
from eventsite.core.errors import DomainError, ValidationError
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.security import random_token, tokens_equal
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus

PROFILE_FIELDS = ("intro", "company", "offers", "offers_text", "asks", "asks_text",
                  "linkedin_url", "website_url", "consent")


def clean_profile(event: Event, data: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """The profile fields of `data` (keys of PROFILE_FIELDS), cleaned; errors under prefix + name."""
    errors: dict[str, str] = {}
    allowed = list(settings_for(event).tags or [])
    out = {
        "intro": clean_text(data.get("intro"), prefix + "intro", INTRO_MAX, errors),
        "company": clean_text(data.get("company"), prefix + "company", COMPANY_MAX, errors),
        "offers": clean_tags(data.get("offers"), allowed, prefix + "offers", errors),
        "offers_text": clean_text(data.get("offers_text"), prefix + "offers_text", SENTENCE_MAX, errors),
        "asks": clean_tags(data.get("asks"), allowed, prefix + "asks", errors),
        "asks_text": clean_text(data.get("asks_text"), prefix + "asks_text", SENTENCE_MAX, errors),
        "linkedin_url": clean_url(data.get("linkedin_url"), prefix + "linkedin_url", errors, linkedin=True),
        "website_url": clean_url(data.get("website_url"), prefix + "website_url", errors),
        "consent": truthy(data.get("consent")),
    }
    if errors:
        raise ValidationError(errors)
    return out


def is_blank(data: Mapping[str, Any]) -> bool:
    """Nothing filled in and no consent: the optional section was left alone."""
    for name in PROFILE_FIELDS:
        value = data.get(name)
        if name == "consent":
            if truthy(value):
                return False
        elif isinstance(value, (list, tuple)):
            if any(str(v).strip() for v in value):
                return False
        elif isinstance(value, str) and value.strip():
            return False
    return True


# --- profiles ------------------------------------------------------------------------------------

def holder_ticket(order: Order) -> Ticket | None:
    """The ticket of the person who registered: the one with her email, else the first."""
    if not order.tickets:
        return None
    return next((t for t in order.tickets if (t.attendee_email or "").lower() == order.buyer_email), order.tickets[0])


def profile_for_order(order: Order) -> NetworkingProfile | None:
    return db.session.scalar(
        select(NetworkingProfile).where(NetworkingProfile.event_id == order.event_id,
                                        NetworkingProfile.email == order.buyer_email))


def save_profile(order: Order, data: Mapping[str, Any], *, now: datetime | None = None,
                 prefix: str = "") -> NetworkingProfile:
    """Create or update the networking profile of the person who registered `order`."""
    now = now or utcnow()
    event = order.event
    if not networking_open(event):
        raise DomainError("Networking profiles are not used for this event.", "networking_closed")
    if not order.is_live:
        raise DomainError("This registration is cancelled, so it has no networking profile.", "order_not_live")
    clean = clean_profile(event, data, prefix=prefix)
    ticket = holder_ticket(order)
    if ticket is None:  # pragma: no cover - an order always has tickets
        raise DomainError("This registration has no ticket.", "no_ticket")
    profile = profile_for_order(order)
    if profile is None:
        profile = NetworkingProfile(event_id=event.id, ticket_id=ticket.id, email=order.buyer_email,
                                    name=ticket.attendee_name, link_key=random_token(80), created_at=now,
                                    consent_to_suggest=False)
        _apply(profile, clean, now)
        try:
            with db.session.begin_nested():
                db.session.add(profile)
                db.session.flush()
        except IntegrityError:  # the same form posted twice at once: update the row that won
            profile = profile_for_order(order)
            if profile is None:
                raise
            _apply(profile, clean, now)
    else:
        _apply(profile, clean, now)
    # Her ticket of this order (a profile kept from an earlier, cancelled registration moves over).
    profile.ticket_id = ticket.id
    profile.name = ticket.attendee_name if (ticket.attendee_email or "").lower() == order.buyer_email else order.buyer_name
    db.session.flush()
    return profile


def _apply(profile: NetworkingProfile, clean: Mapping[str, Any], now: datetime) -> None:
    for name in PROFILE_FIELDS:
        if name != "consent":
            setattr(profile, name, clean[name])
    _set_consent(profile, clean["consent"], now)
    profile.updated_at = now


def save_profile_from_registration(order: Order, data: Mapping[str, Any], *, now: datetime | None = None,
                                   prefix: str = "") -> NetworkingProfile | None:
    """The registration form's optional section: nothing filled in, nothing stored."""
    if is_blank(data):
        return None
    return save_profile(order, data, now=now, prefix=prefix)


def _set_consent(profile: NetworkingProfile, consent: bool, now: datetime) -> None:
    if consent and not profile.consent_to_suggest:
        profile.consent_to_suggest = True
        profile.consented_at = now
    elif not consent and profile.consent_to_suggest:
        profile.consent_to_suggest = False
        profile.consented_at = None
        if profile.id is not None:
            _withdraw_open_requests(profile, now)


def set_consent(profile: NetworkingProfile, consent: bool, *, now: datetime | None = None) -> NetworkingProfile:
    _set_consent(profile, bool(consent), now or utcnow())
    db.session.flush()
    return profile


def unsubscribe(profile: NetworkingProfile, *, now: datetime | None = None) -> bool:
    """No more emails of this domain to her (idempotent: True only the first time)."""
    now = now or utcnow()
    changed = db.session.execute(
        update(NetworkingProfile).where(NetworkingProfile.id == profile.id, NetworkingProfile.unsubscribed_at.is_(None))
        .values(unsubscribed_at=now), execution_options={"synchronize_session": False},
    ).rowcount == 1
    db.session.expire(profile, ["unsubscribed_at"])
    if changed:
        _withdraw_open_requests(profile, now)
        _drop_queued_mail(profile)
    return changed


def resubscribe(profile: NetworkingProfile) -> NetworkingProfile:
    profile.unsubscribed_at = None
    db.session.flush()
    return profile


def delete_profile(profile: NetworkingProfile, *, now: datetime | None = None) -> None:
    """Hard delete. Open requests involving her end quietly; emails to her that are still waiting in
    the outbox, and unsent ones that would show her to someone else, are removed."""
    now = now or utcnow()
    _withdraw_open_requests(profile, now)
    _drop_queued_mail(profile, including_about_her=True)
    db.session.execute(delete(NetworkingProfile).where(NetworkingProfile.id == profile.id),
                       execution_options={"synchronize_session": False})
    db.session.expunge(profile)
    db.session.flush()


def _involving(profile_id: int):
    return or_(Introduction.first_id == profile_id, Introduction.second_id == profile_id)


def _withdraw_open_requests(profile: NetworkingProfile, now: datetime) -> None:
    db.session.execute(
        update(Introduction).where(_involving(profile.id), Introduction.status == IntroductionStatus.REQUESTED)
        .values(status=IntroductionStatus.WITHDRAWN, ended_at=now),
        execution_options={"synchronize_session": False},
    )


def _drop_queued_mail(profile: NetworkingProfile, *, including_about_her: bool = False) -> None:
    keys = [emails.followup_key(step, profile.id) for step in STEPS]
    intro_ids = list(db.session.scalars(select(Introduction.id).where(_involving(profile.id))))
    for intro_id in intro_ids:
        keys.append(f"intro-request:{intro_id}")
        keys.append(f"introduction:{intro_id}:{profile.id}")
    # Her follow-ups that will now never go out are not counted as sent on the organizer's page.
    pending_followups = db.session.scalars(select(OutboxMessage.key).where(
        OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.key.in_(keys[:len(STEPS)]))).all()
    for key in pending_followups:
        db.session.execute(
            update(FollowUpRun).where(FollowUpRun.event_id == profile.event_id, FollowUpRun.step == key.split(":")[1],
                                      FollowUpRun.queued > 0)
            .values(queued=FollowUpRun.queued - 1), execution_options={"synchronize_session": False})
    condition = OutboxMessage.key.in_(keys)
    if including_about_her and intro_ids:
        condition = or_(condition, *[OutboxMessage.key.like(f"introduction:{i}:%") for i in intro_ids])
    db.session.execute(
        delete(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING, condition),
        execution_options={"synchronize_session": False},
    )


def attends(profile: NetworkingProfile) -> bool:
    """Her ticket still admits her: valid, and the order confirmed."""
    ticket = profile.ticket
    return ticket is not None and ticket.status == TicketStatus.VALID and ticket.order.status == OrderStatus.CONFIRMED


def can_be_shown(profile: NetworkingProfile | None) -> bool:
    return profile is not None and profile.reachable and attends(profile)


# --- links -----------------------------------------------------------------------------------------

def profile_with_key(profile_id: int, key: str) -> NetworkingProfile | None:
    profile = db.session.get(NetworkingProfile, profile_id)
    if profile is None or not tokens_equal(profile.link_key, key):
        return None
    return profile


def profile_from_link(purpose: str, token: Any, *, now: datetime | None = None) -> NetworkingProfile:
    """The owner of a preferences (or unsubscribe) link. Raises LinkInvalidError / LinkExpiredError."""
    (profile_id,), key = links.read_token(purpose, token, now=now or utcnow())
    profile = profile_with_key(profile_id, key)
    if profile is None:
        raise LinkInvalidError("This link no longer works: the networking profile it belonged to was deleted.")
    return profile


def unsubscribe_by_link(token: Any, *, now: datetime | None = None) -> NetworkingProfile | None:
    """RFC 8058 one-click: a valid link unsubscribes (again: no change). A valid link whose profile
    was deleted answers the same (None): there is nobody left to write to."""
    now = now or utcnow()
    (profile_id,), key = links.read_token("unsubscribe", token, now=now)
    profile = profile_with_key(profile_id, key)
    if profile is None:
        return None
    unsubscribe(profile, now=now)
    return profile


# --- entry points for the pages (one call per request) ------------------------------------------------

def save_profile_for_order(order: Order, data: Mapping[str, Any], *, now: datetime | None = None) -> NetworkingProfile:
    """Her profile from the ticket page (`/tickets/<token>/networking`)."""
    return save_profile(order, data, now=now)


def delete_profile_for_order(order: Order, *, now: datetime | None = None) -> bool:
    """Delete her profile from the ticket page; False when there was none."""
    profile = profile_for_order(order)
    if profile is None:
        return False
    delete_profile(profile, now=now)
    return True


def change_preferences(token: Any, *, consent: Any = None, emails_on: Any = None,
                       now: datetime | None = None) -> NetworkingProfile:
    """The preferences page: give or withdraw consent (`consent`), stop or restart the emails
    (`emails_on`); None leaves a setting as it is."""
    now = now or utcnow()
    profile = profile_from_link("preferences", token, now=now)
    if consent is not None:
        set_consent(profile, truthy(consent), now=now)
    if emails_on is not None:
        if truthy(emails_on):
            resubscribe(profile)
        else:
            unsubscribe(profile, now=now)
    db.session.flush()
    return profile


def delete_profile_by_link(token: Any, *, now: datetime | None = None) -> Event:
    """Delete her profile from the preferences page; returns the event (for the goodbye page)."""
    now = now or utcnow()
    profile = profile_from_link("preferences", token, now=now)
    event = profile.event
    delete_profile(profile, now=now)
    return event
