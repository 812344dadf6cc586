"""Introductions through the links in the emails: request, accept, mutual, lapse; signed links that
are tampered with, expired, replayed or belong to someone else; GET never changes anything."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from eventsite.connections import introductions, links, profiles
from eventsite.connections.models import (
    Introduction,
    NetworkingProfile,
    Outcome,
)
from eventsite.core.tasks import run_due_tasks
from eventsite.extensions import db
from tests.conftest import csrf_from
from tests.connections.conftest import (
    DAY_AFTER_DUE,
    KEEP_IN_TOUCH_DUE,
    in_app,
    links_in,
    page_text,
)
from tests.connections.helpers import outbox, post, request_link, state


def test_request_then_accept_gives_each_one_introduction(app, client, world):
    ada, dana = world["ada"], world["dana"]
    url = request_link(app, ada, "Dana Okafor")
    before = state(app)
    page = client.get(url)
    text = page_text(page)
    assert page.status_code == 200 and "An introduction to Dana Okafor?" in text
    assert "Dana can help with negotiating a raise" in text and "I'd like an introduction" in text
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert state(app) == before  # a GET (a mail scanner, a preview) changes nothing

    done = post(client, url)
    assert done.status_code == 200 and "We've asked Dana" in page_text(done)
    request_mail = [m for m in outbox(app, dana["email"]) if m["key"].startswith("intro-request:")]
    assert len(request_mail) == 1
    assert request_mail[0]["subject"] == "Ada would like to keep in touch after Spring Breakfast"
    assert "Ada Lovelace" in request_mail[0]["text"] and ada["email"] not in request_mail[0]["text"]
    accept = links_in(request_mail[0]["text"], "/keep-in-touch/accept/")[0]

    before = state(app)
    page = client.get(accept)
    assert page.status_code == 200 and "Ada Lovelace would like an introduction" in page_text(page)
    assert state(app) == before
    made = post(client, accept)
    assert made.status_code == 200 and "You and Ada are introduced" in page_text(made)
    to_ada = [m for m in outbox(app, ada["email"]) if m["key"].startswith("introduction:")]
    to_dana = [m for m in outbox(app, dana["email"]) if m["key"].startswith("introduction:")]
    assert len(to_ada) == 1 and len(to_dana) == 1
    assert dana["email"] in to_ada[0]["text"] and "Meet Dana Okafor" in to_ada[0]["text"]
    assert ada["email"] in to_dana[0]["text"] and "https://www.linkedin.com/in/ada" in to_dana[0]["text"]
    assert "Why you were matched: Dana can help with negotiating a raise" in to_ada[0]["text"]
    assert 'A first line, if it helps: "Hi Dana, we were introduced after Spring Breakfast.' in to_ada[0]["text"]

    # Replays change nothing and send nothing.
    count = len(outbox(app))
    assert "You and Ada are introduced" in page_text(post(client, accept))
    assert "You and Dana are introduced" in page_text(post(client, url))
    assert len(outbox(app)) == count
    assert [i[2] for i in state(app)["intros"]] == ["made"]


def test_asking_for_each_other_makes_the_introduction(app, client, world):
    ada, dana = world["ada"], world["dana"]
    post(client, request_link(app, ada, "Dana Okafor"))
    response = post(client, request_link(app, dana, "Ada Lovelace"))
    assert "You and Ada are introduced" in page_text(response)
    intros = state(app)["intros"]
    assert len(intros) == 1 and intros[0][2] == "made"
    for person, other in ((ada, dana), (dana, ada)):
        mails = [m for m in outbox(app, person["email"]) if m["key"].startswith("introduction:")]
        assert len(mails) == 1 and other["email"] in mails[0]["text"]
        assert "both asked to be introduced" in mails[0]["text"]


def test_an_unanswered_request_lapses_and_nobody_is_told(app, client, world, clock):
    ada, dana = world["ada"], world["dana"]
    post(client, request_link(app, ada, "Dana Okafor"))
    accept = links_in(next(m["text"] for m in outbox(app, dana["email"]) if m["key"].startswith("intro-request:")),
                      "/keep-in-touch/accept/")[0]
    before_ada = len(outbox(app, ada["email"]))
    in_app(app, lambda: run_due_tasks(DAY_AFTER_DUE + timedelta(days=13)))
    assert state(app)["intros"][0][2] == "requested"
    in_app(app, lambda: run_due_tasks(DAY_AFTER_DUE + timedelta(days=14, minutes=1)))
    assert state(app)["intros"][0][2] == "lapsed"
    assert len(outbox(app, ada["email"])) == before_ada  # no "no" to anyone
    # Her yes comes too late: a clear page, nothing changed.
    clock.set(DAY_AFTER_DUE + timedelta(days=15))
    before = state(app)
    late = client.get(accept)
    assert late.status_code == 410 and "no longer" in page_text(late)
    assert state(app) == before
    # Ada asking again does not nag Dana; the pair is not suggested to each other again.
    assert "We've asked Dana" in post(client, request_link(app, ada, "Dana Okafor")).get_data(as_text=True)
    assert len([m for m in outbox(app, dana["email"]) if m["key"].startswith("intro-request:")]) == 1


def test_accepting_just_before_the_lapse_works(app, client, world, clock):
    post(client, request_link(app, world["ada"], "Dana Okafor"))
    accept = links_in(next(m["text"] for m in outbox(app, world["dana"]["email"])
                           if m["key"].startswith("intro-request:")), "/keep-in-touch/accept/")[0]
    clock.set(DAY_AFTER_DUE + timedelta(days=13, hours=23))
    assert "You and Ada are introduced" in page_text(post(client, accept))


def test_tampered_expired_foreign_and_misused_links_change_nothing(app, client, world, clock):
    ada = world["ada"]
    url = request_link(app, ada, "Dana Okafor")
    token = url.rsplit("/", 1)[1]
    before = state(app)
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    for bad in (tampered, "nonsense", "x" * 500, token.split(".")[0]):
        r = client.get(f"/keep-in-touch/introduce/{bad}")
        assert r.status_code == 404 and "This link is not valid" in page_text(r)
        r = client.post(f"/keep-in-touch/introduce/{bad}")  # no CSRF token either
        assert r.status_code in (400, 404)
    # A link of another purpose (her unsubscribe link) does not open an introduction.
    unsubscribe = links_in(next(m["text"] for m in outbox(app, ada["email"])), "/u/")[0].rsplit("/", 1)[1]
    assert client.get(f"/keep-in-touch/introduce/{unsubscribe}").status_code == 404
    # Signed by us but for a pair that was never suggested (Ada -> Nora, who did not consent): nothing
    # about Nora is shown.
    def forged():
        a = db.session.get(NetworkingProfile, ada["profile_id"])
        return links.make_token("introduce", a.id, world["nora"]["profile_id"], key=a.link_key, now=DAY_AFTER_DUE)
    r = client.get(f"/keep-in-touch/introduce/{in_app(app, forged)}")
    assert r.status_code == 410 and "Nora" not in page_text(r)
    # A link with someone else's key (another attendee's link, edited) is not valid.
    def other_key():
        d = db.session.get(NetworkingProfile, world["dana"]["profile_id"])
        return links.make_token("introduce", ada["profile_id"], d.id, key=d.link_key, now=DAY_AFTER_DUE)
    assert client.get(f"/keep-in-touch/introduce/{in_app(app, other_key)}").status_code == 404
    # Expired: 45 days after it was sent.
    clock.set(DAY_AFTER_DUE + timedelta(days=46))
    r = client.get(url)
    assert r.status_code == 410 and "This link has expired" in page_text(r)
    assert state(app) == before


def test_nobody_who_withdrew_consent_is_shown(app, client, world):
    url = request_link(app, world["ada"], "Dana Okafor")

    def withdraw():
        profiles.set_consent(db.session.get(NetworkingProfile, world["dana"]["profile_id"]), False)
        db.session.commit()
    in_app(app, withdraw)
    before = state(app)
    for response in (client.get(url), client.post(url)):
        body = page_text(response)
        assert response.status_code in (400, 410) and "Dana" not in body and "Okafor" not in body
    assert state(app) == before


def test_feedback_from_the_later_email(app, client, world, clock):
    ada, dana = world["ada"], world["dana"]
    post(client, request_link(app, ada, "Dana Okafor"))
    post(client, request_link(app, dana, "Ada Lovelace"))
    in_app(app, lambda: run_due_tasks(KEEP_IN_TOUCH_DUE))
    mail = next(m for m in outbox(app, ada["email"]) if m["key"].startswith("followup:keep_in_touch"))
    useful = next(u for u in links_in(mail["text"], "/keep-in-touch/feedback/") if u.endswith("answer=useful"))
    clock.set(KEEP_IN_TOUCH_DUE + timedelta(hours=2))
    before = state(app)
    page = client.get(useful)
    assert page.status_code == 200 and "Did you meet Dana Okafor?" in page_text(page)
    assert state(app) == before
    saved = client.post(useful.split("?")[0], data={"csrf_token": csrf_from(page.data), "answer": "useful"})
    assert saved.status_code == 200 and "We met, and it was useful" in page_text(saved)

    def outcome():
        intro = db.session.scalar(select(Introduction))
        return intro.side_of(ada["profile_id"]), intro.first_outcome, intro.second_outcome
    side, first, second = in_app(app, outcome)
    assert (first if side == "first" else second) == Outcome.USEFUL
    bad = client.post(useful.split("?")[0], data={"csrf_token": csrf_from(page.data), "answer": "maybe"})
    assert bad.status_code == 422


@pytest.mark.postgres_only
def test_two_people_asking_for_each_other_at_the_same_moment(app, world):
    """Two transactions, each asking for the other: one row, made once, one email each."""
    import threading

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def ask(me: str, other: str):
        with app.app_context():
            try:
                from eventsite.core.db import run_in_transaction

                def work():
                    a = db.session.get(NetworkingProfile, world[me]["profile_id"])
                    b = db.session.get(NetworkingProfile, world[other]["profile_id"])
                    barrier.wait(timeout=10)
                    return introductions.request_introduction(a, b, now=DAY_AFTER_DUE)
                run_in_transaction(work)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=ask, args=("ada", "dana")), threading.Thread(target=ask, args=("dana", "ada"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    intros = state(app)["intros"]
    assert len(intros) == 1 and intros[0][2] == "made"
    for person in ("ada", "dana"):
        assert len([m for m in outbox(app, world[person]["email"]) if m["key"].startswith("introduction:")]) == 1
