"""Keep in touch: networking profiles, the event's follow-up settings, suggestions and introductions.

Design decisions (the README's design section may quote them):

- **A profile belongs to one attendee at one event** (`NetworkingProfile`, unique per event and
  email, linked to her ticket). People change between events (new job, new asks), consent is given
  for one event's attendees, and deleting one event's profile must not touch another. Across events a
  person is recognised by her (lower-cased) email, which is how "you met Dana at the spring breakfast"
  finds Dana again.
- **Consent is a column, not an absence**: `consent_to_suggest` plus `consented_at`. Without it the
  matching never sees her, and every page or email that would show her checks it at the moment it is
  rendered (withdrawing consent works at once, also for emails already planned but not yet rendered).
  `unsubscribed_at` stops every email of this domain to her; an unsubscribed person is not suggested
  either (she could never answer a request).
- **Deleting is a hard delete** of the profile row. Suggestions about her go with it (CASCADE); an
  `Introduction` keeps its row with her side set to NULL (SET NULL), so the organizer's figures
  ("introductions made") do not change, while nothing personal remains: an introduction row holds
  only ids, states and times, never a name, an email or a reason text (reasons are computed from the
  live profiles whenever an email or page is rendered).
- **`link_key`**: a random value on the profile that every signed link of hers carries. Links are
  bound to the person, not only to a row id (SQLite may reuse the id of a deleted row), and can all be
  revoked at once by changing it.
- **The event's settings** (`ConnectionSettings`: tag list and follow-up plan) are one row per event,
  created when the organizer first saves them; until then the defaults apply (`defaults_for`).
  Steps are three fixed columns rather than a child table: there are exactly three steps, each with
  an on/off switch and a number of days, and the plan is always read and written whole.
- **`FollowUpRun`** records what the worker did with each (event, step): planned (suggestions stored),
  queuing (emails being written, `cursor` = the last profile id done), done, or skipped (too late).
  Idempotency of the emails themselves comes from the outbox key `followup:<step>:<profile id>`.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eventsite.core.db import utcnow
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Ticket


def _enum(cls):
    # Stored as text without a CHECK constraint: values can be added without a migration.
    return db.Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Step(str, enum.Enum):
    """The follow-up plan's steps, in the order they happen."""

    DAY_AFTER = "day_after"
    KEEP_IN_TOUCH = "keep_in_touch"
    RECONNECT = "reconnect"

    @property
    def label(self) -> str:
        return STEP_LABELS[self.value]


STEPS: tuple[Step, ...] = (Step.DAY_AFTER, Step.KEEP_IN_TOUCH, Step.RECONNECT)
STEP_LABELS = {"day_after": "The day after", "keep_in_touch": "Keep in touch", "reconnect": "Reconnect"}
DEFAULT_STEP_DAYS = {"day_after": 1, "keep_in_touch": 30, "reconnect": 90}


class Audience(str, enum.Enum):
    """Who gets the follow-ups (and who is suggested): people who came, or everyone registered."""

    CHECKED_IN = "checked_in"
    REGISTERED = "registered"

    @property
    def label(self) -> str:
        return {"checked_in": "Checked-in attendees", "registered": "Everyone registered"}[self.value]


class ConnectionSettings(db.Model):
    """One event's tag list and follow-up plan. No row: `defaults_for(event)`."""

    __tablename__ = "connection_settings"
    __table_args__ = (
        CheckConstraint("send_hour >= 0 AND send_hour <= 23", name="send_hour_in_day"),
    )

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)  # the plan as a whole (and the profile section)
    audience: Mapped[Audience] = mapped_column(_enum(Audience), default=Audience.CHECKED_IN)
    tags: Mapped[list] = mapped_column(JSON, default=list)  # the organizer's tag list, in her order
    day_after_on: Mapped[bool] = mapped_column(default=True)
    day_after_days: Mapped[int] = mapped_column(default=DEFAULT_STEP_DAYS["day_after"])
    keep_in_touch_on: Mapped[bool] = mapped_column(default=True)
    keep_in_touch_days: Mapped[int] = mapped_column(default=DEFAULT_STEP_DAYS["keep_in_touch"])
    reconnect_on: Mapped[bool] = mapped_column(default=True)
    reconnect_days: Mapped[int] = mapped_column(default=DEFAULT_STEP_DAYS["reconnect"])
    send_hour: Mapped[int] = mapped_column(default=10)  # local hour, in the event's time zone
    # Every step done or skipped: the worker stops looking at this event (reset when the plan changes).
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship()

    @classmethod
    def defaults_for(cls, event: Event) -> ConnectionSettings:
        """The settings an event has before the organizer saves any (a transient row, not added)."""
        return cls(
            event_id=event.id, enabled=True, audience=Audience.CHECKED_IN, tags=[],
            day_after_on=True, day_after_days=DEFAULT_STEP_DAYS["day_after"],
            keep_in_touch_on=True, keep_in_touch_days=DEFAULT_STEP_DAYS["keep_in_touch"],
            reconnect_on=True, reconnect_days=DEFAULT_STEP_DAYS["reconnect"],
            send_hour=10, finished_at=None,
        )

    def step_on(self, step: Step | str) -> bool:
        return bool(getattr(self, f"{Step(step).value}_on"))

    def step_days(self, step: Step | str) -> int:
        return int(getattr(self, f"{Step(step).value}_days"))


class NetworkingProfile(db.Model):
    """What one attendee tells about herself for one event, and whether she may be suggested."""

    __tablename__ = "networking_profiles"
    __table_args__ = (
        UniqueConstraint("event_id", "email", name="uq_networking_profiles_event_email"),
        Index("ix_networking_profiles_email", "email"),  # cross-event: her profiles at other events
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    email: Mapped[str] = mapped_column(String(254))  # lower-cased; where her emails go
    name: Mapped[str] = mapped_column(String(200))
    intro: Mapped[str] = mapped_column(String(160), default="")  # one line about her
    company: Mapped[str] = mapped_column(String(120), default="")
    offers: Mapped[list] = mapped_column(JSON, default=list)  # tag labels from the event's list
    offers_text: Mapped[str] = mapped_column(String(280), default="")
    asks: Mapped[list] = mapped_column(JSON, default=list)
    asks_text: Mapped[str] = mapped_column(String(280), default="")
    linkedin_url: Mapped[str] = mapped_column(String(300), default="")
    website_url: Mapped[str] = mapped_column(String(300), default="")
    consent_to_suggest: Mapped[bool] = mapped_column(default=False)
    consented_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    link_key: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship()
    ticket: Mapped[Ticket] = relationship()

    @property
    def reachable(self) -> bool:
        """May be shown to others and emailed by this domain: consenting and not unsubscribed."""
        return bool(self.consent_to_suggest) and self.unsubscribed_at is None

    @property
    def first_name(self) -> str:
        return (self.name or "").split(" ")[0] or self.name

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<NetworkingProfile {self.id} event={self.event_id}>"


class RunStatus(str, enum.Enum):
    PLANNED = "planned"  # suggestions stored; emails not written yet
    QUEUING = "queuing"  # emails being written in batches (`cursor`)
    DONE = "done"
    SKIPPED = "skipped"  # so late that the next step was already due: nothing sent


class FollowUpRun(db.Model):
    """What the worker did with one step of one event's plan."""

    __tablename__ = "follow_up_runs"
    __table_args__ = (UniqueConstraint("event_id", "step", name="uq_follow_up_runs_event_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    step: Mapped[Step] = mapped_column(_enum(Step))
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus))
    due_at: Mapped[datetime]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    cursor: Mapped[int] = mapped_column(default=0)  # profiles with a larger id are still to do
    planned: Mapped[int] = mapped_column(default=0)  # people the matching looked at
    suggestions: Mapped[int] = mapped_column(default=0)
    queued: Mapped[int] = mapped_column(default=0)  # emails written to the outbox


class Suggestion(db.Model):
    """"Keep in touch with `suggested`", made to `profile` in one step: the history the matching
    subtracts (nobody gets the same suggestion twice)."""

    __tablename__ = "connection_suggestions"
    __table_args__ = (
        UniqueConstraint("step", "profile_id", "suggested_id", name="uq_connection_suggestions_step_pair"),
        Index("ix_connection_suggestions_event_step", "event_id", "step"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    step: Mapped[Step] = mapped_column(_enum(Step))
    profile_id: Mapped[int] = mapped_column(ForeignKey("networking_profiles.id", ondelete="CASCADE"), index=True)
    suggested_id: Mapped[int] = mapped_column(ForeignKey("networking_profiles.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(default=1)
    score: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntroductionStatus(str, enum.Enum):
    REQUESTED = "requested"  # one side asked; the other has `expires_at` to say yes
    MADE = "made"  # both want it: each got one introduction email
    LAPSED = "lapsed"  # nobody answered in time; no one is told
    WITHDRAWN = "withdrawn"  # one side withdrew consent, unsubscribed or deleted her profile


class Outcome(str, enum.Enum):
    """What she answered to "did you meet?" (one click in the later emails)."""

    USEFUL = "useful"  # we met, and it was useful
    MET = "met"  # we met; not especially useful
    NOT_YET = "not_yet"  # we have not met

    @property
    def label(self) -> str:
        return {"useful": "We met, and it was useful", "met": "We met",
                "not_yet": "We haven't met yet"}[self.value]


class Introduction(db.Model):
    """One pair of people at one event: `first_id` < `second_id` (so a pair has one row, and two
    people asking for each other at the same moment meet on the unique constraint)."""

    __tablename__ = "introductions"
    __table_args__ = (
        UniqueConstraint("first_id", "second_id", name="uq_introductions_pair"),
        Index("ix_introductions_status_expires", "status", "expires_at"),
        Index("ix_introductions_second", "second_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    first_id: Mapped[int | None] = mapped_column(ForeignKey("networking_profiles.id", ondelete="SET NULL"))
    second_id: Mapped[int | None] = mapped_column(ForeignKey("networking_profiles.id", ondelete="SET NULL"))
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("networking_profiles.id", ondelete="SET NULL"))
    status: Mapped[IntroductionStatus] = mapped_column(_enum(IntroductionStatus))
    mutual: Mapped[bool] = mapped_column(default=False)  # both asked (rather than one accepted)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    made_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]  # lapsed or withdrawn
    first_outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    first_outcome_at: Mapped[datetime | None]
    second_outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    second_outcome_at: Mapped[datetime | None]

    def side_of(self, profile_id: int) -> str | None:
        if profile_id is not None and profile_id == self.first_id:
            return "first"
        if profile_id is not None and profile_id == self.second_id:
            return "second"
        return None

    def other_id(self, profile_id: int) -> int | None:
        side = self.side_of(profile_id)
        if side is None:
            return None
        return self.second_id if side == "first" else self.first_id

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Introduction {self.id} {self.first_id}-{self.second_id} {self.status.value}>"
