"""Introductions: a request, its acceptance or the mutual case, the lapse of an unanswered request,
"did you meet?" feedback, and what the links in the emails open.

In short: A asks for B (only if B was suggested to A) -> B gets one email with a "yes" button; B says
yes, or B asks for A herself (mutual) -> both get one introduction email each. Nobody is told "no":
an unanswered request lapses after `REQUEST_LAPSE_DAYS` (the worker's task
`connections.lapse_requests`, and `accept` checks the time itself). A pair has one row (ordered ids,
unique), so two people asking for each other at the same moment meet on the constraint and the
second becomes the mutual case.

Both sides are checked at the moment (`profiles.can_be_shown`); otherwise `UnavailableError`, whose
message names nobody: "no longer available" says nothing about who withdrew or why. `now` is an
argument (tests freeze it); functions flush only, the view or the worker commits.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from eventsite.connections import emails, links
from eventsite.connections.links import LinkInvalidError
from eventsite.connections.models import (
    Introduction,
    IntroductionStatus,
    NetworkingProfile,
    Outcome,
    Suggestion,
)
from eventsite.connections.profiles import can_be_shown, profile_with_key
from eventsite.core.db import utcnow
from eventsite.core.errors import DomainError, ValidationError
from eventsite.core.mail.models import OutboxMessage, OutboxStatus
from eventsite.extensions import db

REQUEST_LAPSE_DAYS = 14


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
    requester = profile_with_key(rid, key)
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
    profile = profile_with_key(profile_id, key)
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
    profile = profile_with_key(profile_id, key)
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
