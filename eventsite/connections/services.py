"""Keep-in-touch rules: profiles and consent, introductions, feedback, preferences, the event's
settings, and the people she knows who are coming again.

Conventions (ARCHITECTURE.md): plain arguments in, `now` as an argument (tests freeze it), `flush()`
only (the view, the CLI or the worker commits once), `ValidationError` with the form's field names on
bad input, other refusals as `DomainError`s with a code.

Consent, everywhere: a person is *reachable* when she consented to be suggested and did not
unsubscribe (`NetworkingProfile.reachable`), and her ticket still admits her (valid, order confirmed).
Every function here that shows one person to another, or writes to one about another, checks both
sides at that moment and otherwise raises `UnavailableError`, whose message names nobody: "no longer
available" says nothing about who withdrew or why.

Introductions, in short: A asks for B (only if B was suggested to A) -> B gets one email with a
"yes" button; B says yes, or B asks for A herself (mutual) -> both get one introduction email each.
Nobody is told "no": an unanswered request lapses after `REQUEST_LAPSE_DAYS` (the worker's task
`connections.lapse_requests`, and `accept` checks the time itself). A pair has one row (ordered ids,
unique), so two people asking for each other at the same moment meet on the constraint and the
second becomes the mutual case.
"""
from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from eventsite.connections import emails, links
from eventsite.connections.links import LinkInvalidError
from eventsite.connections.matching import tag_key
from eventsite.connections.models import (
    STEPS,
    Audience,
    ConnectionSettings,
    FollowUpRun,
    Introduction,
    IntroductionStatus,
    NetworkingProfile,
    Outcome,
    Suggestion,
)
from eventsite.core.db import utcnow
from eventsite.core.errors import DomainError, ValidationError
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.core.security import random_token, tokens_equal
from eventsite.events.models import Event, EventStatus
from eventsite.extensions import db
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus

INTRO_MAX = 160
COMPANY_MAX = 120
SENTENCE_MAX = 280
URL_MAX = 300
TAGS_PER_SIDE = 5
EVENT_TAGS_MAX = 40
TAG_MAX = 40
STEP_DAYS_MAX = 365
REQUEST_LAPSE_DAYS = 14
RAW_INPUT_MAX = 5000  # anything longer is refused before it is looked at

PROFILE_FIELDS = ("intro", "company", "offers", "offers_text", "asks", "asks_text",
                  "linkedin_url", "website_url", "consent")

_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!?][^>]*>|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]{2,8});|\[[^\]]*\]\([^)]*\)")
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


class UnavailableError(DomainError):
    """What a link or page would show is not available (any more). Names nobody."""

    code = "unavailable"
    status = 410

    def __init__(self, message: str = "This is no longer available. Nothing was changed."):
        super().__init__(message)


class IntroOutcome(str, enum.Enum):
    REQUESTED = "requested"  # asked; the other person got an email
    MADE = "made"  # both want it: introduction emails queued
    ALREADY_REQUESTED = "already_requested"
    ALREADY_MADE = "already_made"


# --- settings of an event ------------------------------------------------------------------------

def settings_for(event: Event) -> ConnectionSettings:
    """The event's saved settings, or the defaults (not added to the session)."""
    return db.session.get(ConnectionSettings, event.id) or ConnectionSettings.defaults_for(event)


def networking_open(event: Event) -> bool:
    """Profiles can be filled for this event: the follow-up plan is on and the event not cancelled."""
    return event.status != EventStatus.CANCELLED and settings_for(event).enabled


def parse_tags(raw: Any, errors: dict[str, str], field: str = "tags") -> list[str]:
    """The organizer's tag list: one per line (commas also separate), deduplicated, in her order."""
    if raw is None:
        raw = ""
    if isinstance(raw, (list, tuple)):
        raw = "\n".join(str(x) for x in raw)
    if not isinstance(raw, str) or len(raw) > RAW_INPUT_MAX * 2:
        errors[field] = "Enter the tags as text, one per line."
        return []
    out: list[str] = []
    seen: set[str] = set()
    for piece in re.split(r"[\n,;]", raw):
        label = " ".join(piece.split())
        if not label:
            continue
        if len(label) > TAG_MAX:
            errors[field] = f"Keep each tag to {TAG_MAX} characters (“{label[:30]}…” is longer)."
            return out
        if _BAD_CHARS.search(label) or _MARKUP.search(label) or "<" in label or ">" in label:
            errors[field] = "Tags are plain text: no markup or special characters."
            return out
        if tag_key(label) in seen:
            continue
        seen.add(tag_key(label))
        out.append(label)
    if len(out) > EVENT_TAGS_MAX:
        errors[field] = f"At most {EVENT_TAGS_MAX} tags, so that the list stays easy to choose from."
    return out


def update_settings(
    event: Event,
    *,
    enabled: bool,
    audience: str,
    tags: Any,
    steps: Mapping[str, tuple[bool, Any]],
    send_hour: Any = 10,
    actor=None,
) -> ConnectionSettings:
    """Save the event's follow-up plan and tag list. `steps` maps a step's value to (on, days).

    Field names in `ValidationError.errors`: `audience`, `tags`, `<step>_days`, `send_hour`.
    """
    errors: dict[str, str] = {}
    try:
        audience_value = Audience(audience)
    except ValueError:
        errors["audience"] = "Choose who gets the follow-ups."
        audience_value = Audience.CHECKED_IN
    tag_list = parse_tags(tags, errors)
    days: dict[str, int] = {}
    on: dict[str, bool] = {}
    for step in STEPS:
        is_on, raw = steps.get(step.value, (False, None))
        on[step.value] = bool(is_on)
        value = _int(raw)
        if value is None or not 1 <= value <= STEP_DAYS_MAX:
            errors[f"{step.value}_days"] = f"Enter a whole number of days from 1 to {STEP_DAYS_MAX}."
            value = ConnectionSettings.defaults_for(event).step_days(step)
        days[step.value] = value
    previous = None
    for step in STEPS:
        if not on[step.value] or f"{step.value}_days" in errors:
            continue
        if previous is not None and days[step.value] <= days[previous.value]:
            errors[f"{step.value}_days"] = (
                f"“{step.label}” must come after “{previous.label}” ({days[previous.value]} days): "
                "enter more days.")
        previous = step
    hour = _int(send_hour)
    if hour is None or not 0 <= hour <= 23:
        errors["send_hour"] = "Enter an hour from 0 to 23."
    if errors:
        raise ValidationError(errors)

    row = db.session.get(ConnectionSettings, event.id)
    if row is None:
        row = ConnectionSettings.defaults_for(event)
        db.session.add(row)
    row.enabled = bool(enabled)
    row.audience = audience_value
    row.tags = tag_list
    for step in STEPS:
        setattr(row, f"{step.value}_on", on[step.value])
        setattr(row, f"{step.value}_days", days[step.value])
    row.send_hour = hour
    row.finished_at = None  # the worker looks at the plan again
    db.session.flush()
    return row


def _int(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        return None


# --- cleaning profile input --------------------------------------------------------------------------

def clean_text(value: Any, field: str, limit: int, errors: dict[str, str]) -> str:
    """One line of plain text: whitespace collapsed, no markup, at most `limit` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[field] = "Enter this as text."
        return ""
    if len(value) > RAW_INPUT_MAX:
        errors[field] = f"That is far too long: keep it to {limit} characters."
        return ""
    if _BAD_CHARS.search(value):
        errors[field] = "Use letters, numbers and punctuation only: no control characters."
        return ""
    text = " ".join(value.split())
    if len(text) > limit:
        errors[field] = f"Keep it to {limit} characters (this is {len(text)})."
    elif _MARKUP.search(text):
        errors[field] = "Plain text only, please: no HTML, links in brackets or other markup."
    return text


def clean_url(value: Any, field: str, errors: dict[str, str], *, linkedin: bool = False) -> str:
    """An http(s) address (https:// is added when she leaves it out), or "" for none."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > RAW_INPUT_MAX:
        errors[field] = "Enter a web address."
        return ""
    text = value.strip()
    if not text:
        return ""
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text) and not re.match(r"^[^:/]+:\d", text):
            errors[field] = "Enter an address starting with https:// (or http://)."
            return ""
        text = "https://" + text
    bad = (len(text) > URL_MAX or _BAD_CHARS.search(text) or any(c.isspace() for c in text)
           or '"' in text or "<" in text or ">" in text)
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, host, port_ok = None, "", False
    if bad or parts is None or not port_ok:
        errors[field] = f"Enter a web address of at most {URL_MAX} characters, like https://example.org."
        return ""
    if parts.scheme.lower() not in ("http", "https"):
        errors[field] = "Only http:// and https:// addresses can be shown."
        return ""
    if "@" in parts.netloc or "." not in host or host.startswith(".") or host.endswith("."):
        errors[field] = "Enter a web address like https://example.org."
        return ""
    if linkedin and not (host == "linkedin.com" or host.endswith(".linkedin.com")):
        errors[field] = "Enter your LinkedIn address, like https://www.linkedin.com/in/your-name."
        return ""
    return text


def clean_tags(values: Any, allowed: list[str], field: str, errors: dict[str, str]) -> list[str]:
    """Tags chosen from the event's list (in the list's order and spelling), at most TAGS_PER_SIDE."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)) or len(values) > 100:
        errors[field] = "Choose from the list."
        return []
    labels = {tag_key(t): t for t in allowed}
    chosen: set[str] = set()
    for v in values:
        if not isinstance(v, str) or tag_key(v) not in labels:
            errors[field] = "Choose from the list."
            return []
        chosen.add(tag_key(v))
    if len(chosen) > TAGS_PER_SIDE:
        errors[field] = f"Choose at most {TAGS_PER_SIDE}: the ones that matter most now."
    return [t for t in allowed if tag_key(t) in chosen]


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


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
        "consent": _truthy(data.get("consent")),
    }
    if errors:
        raise ValidationError(errors)
    return out


def is_blank(data: Mapping[str, Any]) -> bool:
    """Nothing filled in and no consent: the optional section was left alone."""
    for name in PROFILE_FIELDS:
        value = data.get(name)
        if name == "consent":
            if _truthy(value):
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

def _profile_with_key(profile_id: int, key: str) -> NetworkingProfile | None:
    profile = db.session.get(NetworkingProfile, profile_id)
    if profile is None or not tokens_equal(profile.link_key, key):
        return None
    return profile


def profile_from_link(purpose: str, token: Any, *, now: datetime | None = None) -> NetworkingProfile:
    """The owner of a preferences (or unsubscribe) link. Raises LinkInvalidError / LinkExpiredError."""
    (profile_id,), key = links.read_token(purpose, token, now=now or utcnow())
    profile = _profile_with_key(profile_id, key)
    if profile is None:
        raise LinkInvalidError("This link no longer works: the networking profile it belonged to was deleted.")
    return profile


def unsubscribe_by_link(token: Any, *, now: datetime | None = None) -> NetworkingProfile | None:
    """RFC 8058 one-click: a valid link unsubscribes (again: no change). A valid link whose profile
    was deleted answers the same (None): there is nobody left to write to."""
    now = now or utcnow()
    (profile_id,), key = links.read_token("unsubscribe", token, now=now)
    profile = _profile_with_key(profile_id, key)
    if profile is None:
        return None
    unsubscribe(profile, now=now)
    return profile


# --- introductions -----------------------------------------------------------------------------------

def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _check_pair(profile: NetworkingProfile | None, other: NetworkingProfile | None) -> None:
    if (profile is None or other is None or profile.id == other.id or profile.event_id != other.event_id
            or not can_be_shown(profile) or not can_be_shown(other)):
        raise UnavailableError()


def was_suggested(profile: NetworkingProfile, other: NetworkingProfile) -> bool:
    return db.session.scalar(
        select(Suggestion.id).where(Suggestion.profile_id == profile.id, Suggestion.suggested_id == other.id).limit(1)
    ) is not None


def introduction_between(a: NetworkingProfile, b: NetworkingProfile, *, lock: bool = False) -> Introduction | None:
    first, second = _pair(a.id, b.id)
    query = select(Introduction).where(Introduction.first_id == first, Introduction.second_id == second)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def request_introduction(requester: NetworkingProfile, target: NetworkingProfile, *,
                         now: datetime | None = None) -> tuple[IntroOutcome, Introduction]:
    """`requester` would like an introduction to `target` (who was suggested to her)."""
    now = now or utcnow()
    _check_pair(requester, target)
    if not was_suggested(requester, target):
        raise UnavailableError()
    intro = introduction_between(requester, target, lock=True)
    if intro is None:
        first, second = _pair(requester.id, target.id)
        intro = Introduction(event_id=requester.event_id, first_id=first, second_id=second,
                             requester_id=requester.id, status=IntroductionStatus.REQUESTED, mutual=False,
                             requested_at=now, expires_at=now + timedelta(days=REQUEST_LAPSE_DAYS))
        try:
            with db.session.begin_nested():
                db.session.add(intro)
                db.session.flush()
        except IntegrityError:  # she asked at the same moment: her row won, so this is mutual
            intro = introduction_between(requester, target, lock=True)
            if intro is None:
                raise
        else:
            emails.queue_intro_request(intro, requester, target, requester.event, now=now)
            return IntroOutcome.REQUESTED, intro
    if intro.status == IntroductionStatus.MADE:
        return IntroOutcome.ALREADY_MADE, intro
    if intro.status == IntroductionStatus.WITHDRAWN:
        raise UnavailableError()
    if intro.requester_id == requester.id:
        return IntroOutcome.ALREADY_REQUESTED, intro  # asked again (or after it lapsed): nobody is nagged
    _make(intro, requester, target, now=now, mutual=True)  # the other asked for her earlier
    return IntroOutcome.MADE, intro


def accept_introduction(intro: Introduction, profile: NetworkingProfile, *,
                        now: datetime | None = None) -> IntroOutcome:
    """`profile`, who was asked, says yes."""
    now = now or utcnow()
    if intro.side_of(profile.id) is None or intro.requester_id == profile.id:
        raise UnavailableError()
    other = db.session.get(NetworkingProfile, intro.other_id(profile.id)) if intro.other_id(profile.id) else None
    _check_pair(profile, other)
    intro = db.session.scalar(select(Introduction).where(Introduction.id == intro.id).with_for_update()
                              .execution_options(populate_existing=True))
    if intro.status == IntroductionStatus.MADE:
        return IntroOutcome.ALREADY_MADE
    if intro.status != IntroductionStatus.REQUESTED or now >= intro.expires_at:
        raise UnavailableError("This request is no longer open. Nothing was changed.")
    _make(intro, profile, other, now=now, mutual=False)
    return IntroOutcome.MADE


def _make(intro: Introduction, a: NetworkingProfile, b: NetworkingProfile, *, now: datetime, mutual: bool) -> None:
    moved = db.session.execute(
        update(Introduction)
        .where(Introduction.id == intro.id,
               Introduction.status.in_((IntroductionStatus.REQUESTED, IntroductionStatus.LAPSED)))
        .values(status=IntroductionStatus.MADE, made_at=now, mutual=mutual, ended_at=None),
        execution_options={"synchronize_session": False},
    ).rowcount
    db.session.expire(intro)
    if moved != 1:
        return
    # A request email still waiting in the outbox is moot now: she gets the introduction instead.
    db.session.execute(
        delete(OutboxMessage).where(OutboxMessage.key == f"intro-request:{intro.id}",
                                    OutboxMessage.status == OutboxStatus.PENDING),
        execution_options={"synchronize_session": False},
    )
    event = a.event
    emails.queue_introduction(intro, a, b, event, now=now)
    emails.queue_introduction(intro, b, a, event, now=now)


def lapse_requests(now: datetime) -> int:
    """The worker's task: requests unanswered for REQUEST_LAPSE_DAYS lapse. Nobody is told."""
    return db.session.execute(
        update(Introduction)
        .where(Introduction.status == IntroductionStatus.REQUESTED, Introduction.expires_at <= now)
        .values(status=IntroductionStatus.LAPSED, ended_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount


def record_feedback(intro: Introduction, profile: NetworkingProfile, answer: Any, *,
                    now: datetime | None = None) -> Outcome:
    """Her answer to "did you meet?" (she may change it later: the latest answer counts)."""
    now = now or utcnow()
    try:
        outcome = Outcome(answer)
    except ValueError:
        raise ValidationError({"answer": "Choose one of the answers."}) from None
    side = intro.side_of(profile.id)
    if side is None or intro.status != IntroductionStatus.MADE:
        raise UnavailableError()
    setattr(intro, f"{side}_outcome", outcome)
    setattr(intro, f"{side}_outcome_at", now)
    db.session.flush()
    return outcome


# --- what a link opens ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RequestLink:
    requester: NetworkingProfile
    target: NetworkingProfile
    reason: str
    state: str | None  # None, "requested" (she asked already), "made"


def open_request_link(token: Any, *, now: datetime | None = None) -> RequestLink:
    """"I'd like an introduction" (GET): who, why, and whether she asked already. Reads only."""
    (rid, tid), key = links.read_token("introduce", token, now=now or utcnow(), count=2)
    requester = _profile_with_key(rid, key)
    if requester is None:
        raise LinkInvalidError()
    target = db.session.get(NetworkingProfile, tid)
    _check_pair(requester, target)
    if not was_suggested(requester, target):
        raise UnavailableError()
    intro = introduction_between(requester, target)
    state = None
    if intro is not None and intro.status == IntroductionStatus.MADE:
        state = "made"
    elif intro is not None and intro.requester_id == requester.id and intro.status != IntroductionStatus.WITHDRAWN:
        state = "requested"
    return RequestLink(requester, target, emails.reason_for(requester, target), state)


def request_by_link(token: Any, *, now: datetime | None = None) -> tuple[IntroOutcome, RequestLink]:
    now = now or utcnow()
    link = open_request_link(token, now=now)
    outcome, _ = request_introduction(link.requester, link.target, now=now)
    return outcome, link


@dataclass(frozen=True)
class AcceptLink:
    intro: Introduction
    profile: NetworkingProfile  # who was asked
    other: NetworkingProfile  # who asked
    reason: str


def open_accept_link(token: Any, *, now: datetime | None = None) -> AcceptLink:
    now = now or utcnow()
    (intro_id, profile_id), key = links.read_token("accept", token, now=now, count=2)
    profile = _profile_with_key(profile_id, key)
    intro = db.session.get(Introduction, intro_id)
    if profile is None or intro is None or intro.side_of(profile.id) is None:
        raise LinkInvalidError()
    other_id = intro.other_id(profile.id)
    other = db.session.get(NetworkingProfile, other_id) if other_id else None
    _check_pair(profile, other)
    if intro.status == IntroductionStatus.REQUESTED and now >= intro.expires_at:
        raise UnavailableError("This request is no longer open. Nothing was changed.")
    if intro.status not in (IntroductionStatus.REQUESTED, IntroductionStatus.MADE):
        raise UnavailableError("This request is no longer open. Nothing was changed.")
    return AcceptLink(intro, profile, other, emails.reason_for(profile, other))


def accept_by_link(token: Any, *, now: datetime | None = None) -> tuple[IntroOutcome, AcceptLink]:
    now = now or utcnow()
    link = open_accept_link(token, now=now)
    return accept_introduction(link.intro, link.profile, now=now), link


@dataclass(frozen=True)
class FeedbackLink:
    intro: Introduction
    profile: NetworkingProfile
    other_name: str | None  # None when the other person can no longer be shown
    current: Outcome | None


def open_feedback_link(token: Any, *, now: datetime | None = None) -> FeedbackLink:
    (intro_id, profile_id), key = links.read_token("feedback", token, now=now or utcnow(), count=2)
    profile = _profile_with_key(profile_id, key)
    intro = db.session.get(Introduction, intro_id)
    if profile is None or intro is None or intro.side_of(profile.id) is None:
        raise LinkInvalidError()
    if intro.status != IntroductionStatus.MADE:
        raise UnavailableError()
    other_id = intro.other_id(profile.id)
    other = db.session.get(NetworkingProfile, other_id) if other_id else None
    side = intro.side_of(profile.id)
    return FeedbackLink(intro, profile, other.name if can_be_shown(other) else None,
                        getattr(intro, f"{side}_outcome"))


def feedback_by_link(token: Any, answer: Any, *, now: datetime | None = None) -> tuple[Outcome, FeedbackLink]:
    now = now or utcnow()
    link = open_feedback_link(token, now=now)
    return record_feedback(link.intro, link.profile, answer, now=now), link


# --- people she knows who are coming again -------------------------------------------------------------

@dataclass(frozen=True)
class KnownPerson:
    name: str
    event_title: str
    event_starts_at: datetime
    ago: str  # "14 months ago"


def time_ago(then: datetime, now: datetime) -> str:
    days = max((now - then).days, 0)
    if days < 14:
        return "a few days ago" if days > 1 else "recently"
    if days < 60:
        return f"{days // 7} weeks ago"
    months = round(days / 30.44)
    if months < 24:
        return f"{months} months ago"
    return f"{days // 365} years ago"


def people_you_know_coming(order: Order, *, now: datetime | None = None) -> list[KnownPerson]:
    """People she was introduced to at earlier events of the same organization who are coming to this
    one. Both must have a consenting profile here (she sees others only as others may see her), the
    earlier introduction must still be there (a deleted profile cuts it), and their tickets valid."""
    now = now or utcnow()
    event = order.event
    mine = profile_for_order(order)
    if mine is None or not can_be_shown(mine):
        return []
    earlier = db.session.execute(
        select(NetworkingProfile.id, Event.title, Event.starts_at)
        .join(Event, Event.id == NetworkingProfile.event_id)
        .where(NetworkingProfile.email == order.buyer_email, Event.organization_id == event.organization_id,
               Event.id != event.id, Event.ends_at <= event.starts_at)
    ).all()
    if not earlier:
        return []
    my_ids = {row[0]: (row[1], row[2]) for row in earlier}
    intros = db.session.scalars(
        select(Introduction).where(
            Introduction.status == IntroductionStatus.MADE,
            or_(Introduction.first_id.in_(my_ids), Introduction.second_id.in_(my_ids)))
    ).all()
    found: dict[str, KnownPerson] = {}
    for intro in intros:
        mine_id = intro.first_id if intro.first_id in my_ids else intro.second_id
        other_id = intro.other_id(mine_id)
        old_other = db.session.get(NetworkingProfile, other_id) if other_id else None
        if old_other is None or old_other.email == order.buyer_email:
            continue
        here = db.session.scalar(select(NetworkingProfile).where(
            NetworkingProfile.event_id == event.id, NetworkingProfile.email == old_other.email))
        if not can_be_shown(here):
            continue
        title, starts_at = my_ids[mine_id]
        known = KnownPerson(here.name, title, starts_at, time_ago(starts_at, now))
        if old_other.email not in found or found[old_other.email].event_starts_at < starts_at:
            found[old_other.email] = known
    return sorted(found.values(), key=lambda k: (k.name.casefold(), k.event_title))


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
        set_consent(profile, _truthy(consent), now=now)
    if emails_on is not None:
        if _truthy(emails_on):
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
