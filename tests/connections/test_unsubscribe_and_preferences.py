"""One-click unsubscribe (RFC 8058), the preferences page, and deleting a profile for good."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from eventsite.connections.models import Introduction, NetworkingProfile, Suggestion
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.mail.worker import run_once
from eventsite.extensions import db
from tests.conftest import csrf_from
from tests.connections.conftest import (
    DAY_AFTER_DUE,
    KEEP_IN_TOUCH_DUE,
    RECONNECT_DUE,
    in_app,
    links_in,
    page_text,
)
from tests.connections.helpers import outbox, post, request_link, state


def link_in_mail(app, person: dict, path: str) -> str:
    mail = next(m for m in outbox(app, person["email"]) if m["key"].startswith("followup:day_after"))
    return links_in(mail["text"], path)[0]


def test_one_click_unsubscribe_post_without_login_or_csrf_answers_200(app, client, world, mailbox):
    ada = world["ada"]
    url = link_in_mail(app, ada, "/u/")
    # The header carries the same URL.
    header = in_app(app, lambda: db.session.scalar(select(OutboxMessage.headers).where(
        OutboxMessage.key == f"followup:day_after:{ada['profile_id']}")))
    assert header["List-Unsubscribe"] == f"<http://eventsite.test{url}>"
    assert header["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # What a mail provider sends: a POST with List-Unsubscribe=One-Click, no cookie, no token.
    response = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "You're unsubscribed" in page_text(response)
    assert in_app(app, lambda: db.session.get(NetworkingProfile, ada["profile_id"]).unsubscribed_at) is not None
    assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # again: still 200
    # Her day-after email, still waiting in the outbox, is not sent; nothing later either.
    in_app(app, lambda: run_once(now=DAY_AFTER_DUE + timedelta(minutes=5)))
    for moment in (KEEP_IN_TOUCH_DUE, RECONNECT_DUE):
        in_app(app, lambda m=moment: run_once(now=m))
    assert mailbox.to(ada["email"]) == []
    assert mailbox.to(world["dana"]["email"])  # the others still get theirs
    # ...and she is not suggested to anyone in the later rounds.
    later = [m.message.get_body(preferencelist=("plain",)).get_content() for m in mailbox.messages
             if m.message["Subject"].startswith(("Keep in touch", "Time to reconnect"))]
    assert all("Ada Lovelace" not in text for text in later)
    suggested_later = in_app(app, lambda: db.session.scalar(select(func.count(Suggestion.id)).where(
        Suggestion.suggested_id == ada["profile_id"], Suggestion.step != "day_after")))
    assert suggested_later == 0


def test_the_unsubscribe_page_asks_first_and_bad_links_get_a_clear_answer(app, client, world):
    url = link_in_mail(app, world["ada"], "/u/")
    before = state(app)
    page = client.get(url)
    assert page.status_code == 200 and "Unsubscribe from the follow-up emails?" in page_text(page)
    assert state(app) == before
    assert client.post(url[:-4] + "abcd").status_code == 404
    assert client.get("/u/garbage").status_code == 404
    assert state(app) == before


def test_preferences_withdraw_consent_and_stop_emails(app, client, world):
    url = link_in_mail(app, world["ada"], "/keep-in-touch/preferences/")
    page = client.get(url)
    assert page.status_code == 200 and "You agree to be suggested" in page_text(page)
    token = csrf_from(page.data)
    r = client.post(url + "/consent", data={"csrf_token": token, "consent": "no"})
    assert r.status_code == 303
    page = client.get(url)
    assert "You are not suggested to anyone" in page_text(page)
    assert "Done: you are no longer suggested to anyone" in page_text(page)
    assert in_app(app, lambda: db.session.get(NetworkingProfile, world["ada"]["profile_id"]).consent_to_suggest) is False
    client.post(url + "/emails", data={"csrf_token": token, "emails": "off"})
    assert "You are unsubscribed" in page_text(client.get(url))
    client.post(url + "/emails", data={"csrf_token": token, "emails": "on"})
    client.post(url + "/consent", data={"csrf_token": token, "consent": "yes"})
    p = in_app(app, lambda: db.session.get(NetworkingProfile, world["ada"]["profile_id"]))
    assert p.consent_to_suggest and p.unsubscribed_at is None
    # Without the form's token nothing changes.
    assert client.post(url + "/consent", data={"consent": "no"}).status_code == 400
    assert in_app(app, lambda: db.session.get(NetworkingProfile, world["ada"]["profile_id"]).consent_to_suggest)


def test_deleting_the_profile_removes_it_for_good(app, client, world):
    ada, dana = world["ada"], world["dana"]
    post(client, request_link(app, ada, "Dana Okafor"))  # an open request from Ada
    url = link_in_mail(app, ada, "/keep-in-touch/preferences/")
    confirm = client.get(url + "/delete")
    assert confirm.status_code == 200 and "Delete your networking profile?" in page_text(confirm)
    assert in_app(app, lambda: db.session.get(NetworkingProfile, ada["profile_id"])) is not None
    done = client.post(url + "/delete", data={"csrf_token": csrf_from(confirm.data)})
    assert done.status_code == 200 and "Your networking profile is deleted" in page_text(done)

    def after():
        return {
            "profile": db.session.get(NetworkingProfile, ada["profile_id"]),
            "suggestions": db.session.scalar(select(func.count(Suggestion.id)).where(
                (Suggestion.profile_id == ada["profile_id"]) | (Suggestion.suggested_id == ada["profile_id"]))),
            "intros": [(i.first_id, i.second_id, i.requester_id, i.status.value)
                       for i in db.session.scalars(select(Introduction))],
            "pending_to_her": db.session.scalar(select(func.count(OutboxMessage.id)).where(
                OutboxMessage.to_addr.contains(ada["email"]), OutboxMessage.status == "pending")),
            "request_about_her": db.session.scalar(select(func.count(OutboxMessage.id)).where(
                OutboxMessage.key.like("intro-request:%"))),
        }
    gone = in_app(app, after)
    assert gone["profile"] is None and gone["suggestions"] == 0
    assert gone["pending_to_her"] == 0 and gone["request_about_her"] == 0
    assert [i[3] for i in gone["intros"]] == ["withdrawn"] and ada["profile_id"] not in gone["intros"][0][:3]
    # Her old links now lead nowhere, with a clear page; Dana's link to her says "no longer available".
    assert client.get(url).status_code == 404
    dana_link = request_link(app, dana, "Ada Lovelace")
    r = client.get(dana_link)
    assert r.status_code == 410 and "Ada" not in page_text(r)
