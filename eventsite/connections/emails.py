"""The emails of this domain, queued in the outbox inside the caller's transaction.

- follow-up (one per attendee and step, key `followup:<step>:<profile id>`): the day after, two or
  three people with the reason and one "I'd like an introduction" button each, and a "give first"
  line; a month later the people she was introduced to, a nudge to write (reaching out is welcome),
  one-click "did you meet?" links and new suggestions; three months later the reconnect prompt.
  The plan queues it as a deferred row (core/mail/deferred.py, renderer "connections.followup"):
  ids only, and the delivery worker writes the email from the database when it sends it.
- introduction request (key `intro-request:<introduction id>`): to the person asked, with the
  requester's profile and one "Yes, introduce us" button.
- introduction (key `introduction:<introduction id>:<recipient profile id>`): one to each side, with
  the other's chosen contact details, why they were matched and a suggested first line.

Every email carries `List-Unsubscribe` (the one-click URL `/u/<token>`, plus a mailto: address when
CONNECTIONS_UNSUBSCRIBE_MAILTO is set) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
(RFC 8058), and a link to her preferences. No tracking pixels, no redirecting link wrappers.

Whom an email shows is decided by the caller (consent of both sides, checked when rendering); the
templates only print what they are given, escaped in HTML. Subjects contain only event titles and
first names of consenting people; the outbox collapses anything that could split a header.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from flask import current_app
from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from eventsite.connections import links
from eventsite.connections.matching import (
    Match,
    Person,
    explain,
    join_words,
    score_pair,
)
from eventsite.connections.models import Introduction, IntroductionStatus, NetworkingProfile, Outcome, Step
from eventsite.core.db import utcnow
from eventsite.core.mail import enqueue_email, format_address
from eventsite.core.mail.deferred import Content, DeferredEmail, NothingToSend, renderer
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.mail.outbox import mailbox
from eventsite.events.display import absolute_url, event_url, format_range
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Ticket

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")

SUBJECTS = {
    Step.DAY_AFTER: "People worth keeping in touch with from {event}",
    Step.KEEP_IN_TOUCH: "Keep in touch: a month after {event}",
    Step.RECONNECT: "Time to reconnect: three months after {event}",
}

REACHING_OUT_IS_WELCOME = (
    "A short note is more welcome than it feels: in studies with thousands of people, those who "
    "reached out to a loose acquaintance underestimated how much the other person appreciated it, "
    "and old contacts turned out to be a source of fresh ideas."
)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    headers: dict


def _env() -> Environment:
    app = current_app._get_current_object()
    env = app.extensions.get("connections_email_env")
    if env is None:
        env = app.jinja_env.overlay(loader=ChoiceLoader([FileSystemLoader(TEMPLATES), app.jinja_env.loader]))
        app.extensions["connections_email_env"] = env
    return env


def _render(name: str, **context) -> tuple[str, str]:
    env = _env()
    text = env.get_template(f"connections/email/{name}.txt").render(**context)
    html = env.get_template(f"connections/email/{name}.html").render(**context)
    return text, html


# --- people and links ----------------------------------------------------------------------------

def person_of(profile: NetworkingProfile) -> Person:
    return Person(profile.id, profile.name, profile.company or "", tuple(profile.offers or ()), tuple(profile.asks or ()))


def match_between(profile: NetworkingProfile, other: NetworkingProfile) -> Match:
    """Why `other` is a good contact for `profile` (from `profile`'s side)."""
    return score_pair(person_of(profile), person_of(other))


def reason_for(profile: NetworkingProfile, other: NetworkingProfile, match: Match | None = None) -> str:
    return explain(match or match_between(profile, other), other.first_name, other.company or "")


def first_line(profile: NetworkingProfile, other: NetworkingProfile, event: Event, match: Match | None = None) -> str:
    """A suggested first line for `profile` to write to `other`."""
    m = match or match_between(profile, other)
    hello = f"Hi {other.first_name}, we were introduced after {event.title}."
    if m.they_offer:
        return f"{hello} I'd love to hear how you approach {join_words(m.they_offer[:1])}: would you have 20 minutes for a call in the next few weeks?"
    if m.you_offer:
        return f"{hello} You mentioned {join_words(m.you_offer[:1])}: I'd be glad to share what I have learned, if that's useful."
    if m.shared:
        return f"{hello} We're both into {join_words(m.shared[:1])}: shall we compare notes over a coffee or a call?"
    return f"{hello} I'd like to hear what you're working on: would you have time for a short call?"


def url(endpoint_path: str, token: str, **query) -> str:
    path = f"{endpoint_path}/{token}"
    if query:
        path += "?" + urlencode(query)
    return absolute_url(path)


def preferences_url(profile: NetworkingProfile, now: datetime | None = None) -> str:
    return url("/keep-in-touch/preferences", links.make_token("preferences", profile.id, key=profile.link_key, now=now))


def unsubscribe_url(profile: NetworkingProfile, now: datetime | None = None) -> str:
    return url("/u", links.make_token("unsubscribe", profile.id, key=profile.link_key, now=now))


def request_url(profile: NetworkingProfile, other: NetworkingProfile, now: datetime | None = None) -> str:
    return url("/keep-in-touch/introduce",
               links.make_token("introduce", profile.id, other.id, key=profile.link_key, now=now))


def accept_url(intro: Introduction, profile: NetworkingProfile, now: datetime | None = None) -> str:
    return url("/keep-in-touch/accept", links.make_token("accept", intro.id, profile.id, key=profile.link_key, now=now))


def feedback_urls(intro: Introduction, profile: NetworkingProfile, now: datetime | None = None) -> dict[str, str]:
    token = links.make_token("feedback", intro.id, profile.id, key=profile.link_key, now=now)
    return {o.value: url("/keep-in-touch/feedback", token, answer=o.value) for o in Outcome}


def list_headers(profile: NetworkingProfile, now: datetime | None = None, *, unsubscribe: str | None = None) -> dict[str, str]:
    """RFC 2369 / RFC 8058 one-click unsubscribe headers (`unsubscribe`: her link, when made already)."""
    targets = [f"<{unsubscribe or unsubscribe_url(profile, now)}>"]
    mailto = current_app.config.get("CONNECTIONS_UNSUBSCRIBE_MAILTO")
    if mailto:
        targets.append(f"<mailto:{mailto}?subject=unsubscribe>")
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _contact(profile: NetworkingProfile) -> dict:
    return {"email": profile.email, "linkedin_url": profile.linkedin_url or None, "website_url": profile.website_url or None}


def _card(other: NetworkingProfile) -> dict:
    return {
        "name": other.name,
        "first_name": other.first_name,
        "intro": other.intro or "",
        "company": other.company or "",
        "offers": list(other.offers or []),
        "offers_text": other.offers_text or "",
        "asks": list(other.asks or []),
        "asks_text": other.asks_text or "",
    }


def _common(profile: NetworkingProfile, event: Event, now: datetime | None) -> dict:
    return {
        "event": event,
        "when": format_range(event),
        "event_url": event_url(event),
        "recipient": profile,
        "preferences_url": preferences_url(profile, now),
        "unsubscribe_url": unsubscribe_url(profile, now),
    }


# --- the follow-up of one step -------------------------------------------------------------------

def render_followup(
    step: Step,
    profile: NetworkingProfile,
    event: Event,
    *,
    suggestions: list[tuple[NetworkingProfile, Match | None]],
    introductions: list[tuple[Introduction, NetworkingProfile]],
    now: datetime | None = None,
) -> RenderedEmail:
    """The email of `step` for `profile`. Every person in `suggestions` and `introductions` must
    already be checked by the caller (reachable, same event)."""
    now = now or utcnow()
    step = Step(step)
    cards = []
    give_first = None
    for other, match in suggestions:
        m = match or match_between(profile, other)
        card = _card(other)
        card["reason"] = reason_for(profile, other, m)
        card["request_url"] = request_url(profile, other, now)
        cards.append(card)
        if give_first is None and m.you_offer:
            give_first = (f"{other.first_name} is looking for {join_words(m.you_offer)}, which you could help with: "
                          "a short note with one useful pointer is a great way to start.")
    people = []
    for intro, other in introductions:
        people.append({
            **_card(other),
            "contact": _contact(other),
            "feedback": feedback_urls(intro, profile, now),
            "first_line": first_line(profile, other, event),
        })
    common = _common(profile, event, now)
    context = {
        **common,
        "step": step.value,
        "suggestions": cards,
        "people": people,
        "give_first": give_first,
        "welcome_line": REACHING_OUT_IS_WELCOME,
        "outcomes": list(Outcome),
    }
    text, html = _render("followup", **context)
    subject = SUBJECTS[step].format(event=event.title)
    return RenderedEmail(subject, text, html, list_headers(profile, now, unsubscribe=common["unsubscribe_url"]))


def followup_key(step: Step | str, profile_id: int) -> str:
    return f"followup:{Step(step).value}:{profile_id}"


FOLLOWUP_RENDERER = "connections.followup"


def followup_email(step: Step, *, profile_id: int, name: str, email: str, event: Event, suggested: list[int],
                   introductions: list[int], now: datetime) -> DeferredEmail:
    """The follow-up of `step` for one attendee, as a deferred outbox row: the delivery worker
    renders it (`_followup_content`) from these ids and the database, so the plan's step only
    writes small rows (`enqueue_deferred_many` queues a batch of them at once).

    `suggested` are the profile ids to suggest, in rank order, and `introductions` the ids of her
    made introductions to show, as the plan chose them; `now` is the plan's clock, which the links
    carry as their issue time. ValueError when her address cannot be used."""
    return DeferredEmail(
        key=followup_key(step, profile_id),
        to=mailbox(name, email),
        renderer=FOLLOWUP_RENDERER,
        args={"profile_id": profile_id, "event_id": event.id, "step": Step(step).value,
              "suggested": [int(i) for i in suggested], "introductions": [int(i) for i in introductions],
              "now": now.isoformat()},
        subject=SUBJECTS[Step(step)].format(event=event.title),
    )


def _prepare_followups(batch: list[dict]) -> list:
    """Load what a batch of follow-ups shows, in a few queries: the recipients and the people
    shown with their tickets and orders, the introductions, the events (see `deferred.renderer`)."""
    intro_ids = {i for args in batch for i in args.get("introductions") or []}
    intros = list(db.session.scalars(select(Introduction).where(Introduction.id.in_(intro_ids)))) if intro_ids else []
    ids = ({args.get("profile_id") for args in batch} | {o for args in batch for o in args.get("suggested") or []}
           | {i.first_id for i in intros} | {i.second_id for i in intros}) - {None}
    events = list(db.session.scalars(select(Event).where(Event.id.in_({args.get("event_id") for args in batch}))))
    return [intros, events, list(_profiles_by_id(ids).values())]


@renderer(FOLLOWUP_RENDERER, prepare=_prepare_followups)
def _followup_content(args: dict) -> Content:
    """The follow-up as it would have been written when it was planned, from the database as it is
    now: she and every person shown are checked again (consent, not unsubscribed, ticket still
    valid); someone who left since is left out, and if she left, or nobody is left to show, nothing
    is sent (NothingToSend)."""
    from eventsite.connections.profiles import can_be_shown  # profiles imports this module

    profile_id = args.get("profile_id")
    profile = db.session.get(NetworkingProfile, profile_id)
    if profile is None:
        raise NothingToSend(f"networking profile {profile_id} was deleted")
    if not can_be_shown(profile):
        raise NothingToSend(f"networking profile {profile_id} no longer takes part "
                            "(consent withdrawn, unsubscribed or ticket no longer valid)")
    event = db.session.get(Event, args.get("event_id"))
    if event is None:
        raise NothingToSend(f"event {args.get('event_id')} no longer exists")
    intros = [i for i in (db.session.get(Introduction, n) for n in args.get("introductions") or [])
              if i is not None and i.status == IntroductionStatus.MADE and i.other_id(profile.id) is not None]
    shown = [(other, None) for other in (db.session.get(NetworkingProfile, o) for o in args.get("suggested") or [])
             if can_be_shown(other)]
    met = [(i, other) for i, other in ((i, db.session.get(NetworkingProfile, i.other_id(profile.id))) for i in intros)
           if can_be_shown(other)]
    if not shown and not met:
        raise NothingToSend(f"nobody left to show networking profile {profile_id}")
    now = datetime.fromisoformat(args["now"])
    email = render_followup(Step(args["step"]), profile, event, suggestions=shown, introductions=met, now=now)
    return Content(subject=email.subject, text=email.text, html=email.html, headers=email.headers)


def _profiles_by_id(ids: set[int]) -> dict[int, NetworkingProfile]:
    if not ids:
        return {}
    return {p.id: p for p in db.session.scalars(
        select(NetworkingProfile).where(NetworkingProfile.id.in_(ids))
        .options(selectinload(NetworkingProfile.ticket).selectinload(Ticket.order)))}


# --- introductions ---------------------------------------------------------------------------------

def queue_intro_request(intro: Introduction, requester: NetworkingProfile, target: NetworkingProfile,
                        event: Event, *, now: datetime | None = None) -> OutboxMessage:
    """To `target`: `requester` would like an introduction; one button to say yes."""
    now = now or utcnow()
    context = {
        **_common(target, event, now),
        "requester": _card(requester),
        "reason": reason_for(target, requester),
        "accept_url": accept_url(intro, target, now),
        "lapse_days": (intro.expires_at - intro.requested_at).days,
    }
    text, html = _render("intro_request", **context)
    return enqueue_email(
        key=f"intro-request:{intro.id}", to=format_address(target.name, target.email),
        subject=f"{requester.first_name} would like to keep in touch after {event.title}",
        text=text, html=html, headers=list_headers(target, now),
    )


def queue_introduction(intro: Introduction, recipient: NetworkingProfile, other: NetworkingProfile,
                       event: Event, *, now: datetime | None = None) -> OutboxMessage:
    """To `recipient`: meet `other`, with her contact details, why, and a first line."""
    now = now or utcnow()
    context = {
        **_common(recipient, event, now),
        "other": _card(other),
        "contact": _contact(other),
        "reason": reason_for(recipient, other),
        "first_line": first_line(recipient, other, event),
        "mutual": intro.mutual,
        "welcome_line": REACHING_OUT_IS_WELCOME,
    }
    text, html = _render("introduction", **context)
    return enqueue_email(
        key=f"introduction:{intro.id}:{recipient.id}", to=format_address(recipient.name, recipient.email),
        subject=f"Introducing you and {other.first_name} ({event.title})",
        text=text, html=html, headers=list_headers(recipient, now),
    )


def introduction_keys(intro_id: int, profile_ids: list[int]) -> list[str]:
    return [f"intro-request:{intro_id}"] + [f"introduction:{intro_id}:{pid}" for pid in profile_ids]


# --- previews for the organizer (rendered, never sent) --------------------------------------------

SAMPLE_TAGS = ("Negotiating a raise", "Board governance", "Public speaking", "Fundraising", "Hiring a first team")


def sample_followup(event: Event, step: Step, tags: list[str] | None = None, *, now: datetime | None = None) -> RenderedEmail:
    """The email of `step` for a made-up attendee, with made-up people, using the event's tags.

    Nobody real appears in a preview: the organizer sees the shape and the words, not profiles."""
    now = now or utcnow()
    t = list(tags or []) or list(SAMPLE_TAGS)
    pick = lambda i: t[i % len(t)]

    def person(pid: int, name: str, company: str, offers: list[str], asks: list[str], intro: str) -> NetworkingProfile:
        return NetworkingProfile(
            id=pid, event_id=event.id, email=f"{name.split()[0].lower()}@example.org", name=name, intro=intro,
            company=company, offers=offers, asks=asks, offers_text="", asks_text="", linkedin_url="",
            website_url="", consent_to_suggest=True, link_key="preview")

    alex = person(0, "Alex Example", "Northwind", [pick(1)], [pick(0)], "Team lead, new to managing managers.")
    dana = person(-1, "Dana Sample", "Contoso", [pick(0)], [pick(1)], "Head of people operations.")
    priya = person(-2, "Priya Sample", "Fabrikam", [pick(2)], [pick(0)], "Founder of a small design studio.")
    sam = person(-3, "Sam Sample", "Litware", [pick(3)], [pick(1)], "Finance director and board member.")
    intro = Introduction(id=0, event_id=event.id, first_id=-3, second_id=0, status=None, mutual=True)
    introductions = [] if Step(step) == Step.DAY_AFTER else [(intro, sam)]
    suggestions = [(dana, None), (priya, None)]
    return render_followup(step, alex, event, suggestions=suggestions, introductions=introductions, now=now)
