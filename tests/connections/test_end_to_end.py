"""Issue 6, deliverable 8: 30 profiled attendees, 20 checked in; the event ends; the worker sends the
day-after emails through a real SMTP server at frozen times; two attendees ask for each other; one
unsubscribes with the one-click POST from her email's header; running the worker again sends nothing.

The people come in pairs that need each other (pair i: A offers tag Xi and asks Yi, B the reverse),
so the right suggestion for every attendee is known: her partner, and nobody else (no two pairs
share a tag). The ten who did not come have tags that match the others, and must never appear.
"""
from __future__ import annotations

from datetime import timedelta

from eventsite.connections import event_settings
from eventsite.core.mail.worker import run_once
from eventsite.extensions import db
from tests.conftest import csrf_from
from tests.connections.conftest import (
    DAY_AFTER_DUE,
    ENDS,
    KEEP_IN_TOUCH_DUE,
    RECONNECT_DUE,
    STARTS,
    attendee,
    in_app,
    links_in,
    page_text,
)
from tests.factories import make_event, make_organizer, make_ticket_type

TAGS = [f"Skill {n:02d}" for n in range(1, 21)]  # pair i: "Skill 2i-1" and "Skill 2i"


def body(received) -> str:
    return received.message.get_body(preferencelist=("plain",)).get_content()


def test_thirty_attendees_twenty_checked_in_end_to_end(app, client, mailbox, clock):
    def build():
        org = make_organizer("host@example.org").memberships[0].organization_id
        ev = make_event(org, title="Spring Breakfast", slug="spring-breakfast", starts_at=STARTS, ends_at=ENDS)
        make_ticket_type(ev, capacity=100)
        event_settings.update_settings(ev, enabled=True, audience="checked_in", tags="\n".join(TAGS),
                                 steps={"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)})
        db.session.commit()
        came, away = [], []
        for i in range(10):
            x, y = TAGS[2 * i], TAGS[2 * i + 1]
            a = attendee(ev, f"Anna Pair{i:02d}", email=f"anna{i:02d}@example.org", company=f"A{i}", offers=[x], asks=[y])
            b = attendee(ev, f"Bea Pair{i:02d}", email=f"bea{i:02d}@example.org", company=f"B{i}", offers=[y], asks=[x])
            came.append((a.__dict__, b.__dict__))
            # Registered, profiled, consenting, matching tags, but not checked in.
            away.append(attendee(ev, f"Absent Person{i:02d}", email=f"absent{i:02d}@example.org",
                                 company=f"C{i}", offers=[y], asks=[x], checked_in=False).__dict__)
        return came, away

    came, away = in_app(app, build)
    run = lambda moment: in_app(app, lambda: run_once(now=moment))

    run(ENDS + timedelta(hours=1))
    mailbox.clear()  # the registration confirmations
    run(DAY_AFTER_DUE - timedelta(minutes=1))
    assert mailbox.messages == []  # not yet: 10:00 Berlin time
    run(DAY_AFTER_DUE)
    assert len(mailbox.messages) == 20
    assert all(m.message["Subject"] == "People worth keeping in touch with from Spring Breakfast" for m in mailbox.messages)
    for a, b in came:
        for me, partner in ((a, b), (b, a)):
            [mail] = mailbox.to(me["email"])
            text = body(mail)
            assert partner["name"] in text
            others = [n for n in (p[k]["name"] for p in came for k in (0, 1)) if n not in (me["name"], partner["name"])]
            assert not any(n in text for n in others)
            assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for person in away:
        assert mailbox.to(person["email"]) == []
        assert not any(person["name"] in body(m) for m in mailbox.messages)

    # Pair 0 ask for each other, each from her own email.
    (anna, bea), (anna1, _) = came[0], came[1]
    header = mailbox.to(anna1["email"])[0].message["List-Unsubscribe"]  # as her mail program sees it
    clock.set(DAY_AFTER_DUE + timedelta(hours=3))
    for me in (anna, bea):
        url = links_in(body(mailbox.to(me["email"])[0]), "/keep-in-touch/introduce/")[0]
        page = client.get(url)
        client.post(url, data={"csrf_token": csrf_from(page.data)})
    mailbox.clear()
    run(DAY_AFTER_DUE + timedelta(hours=3, minutes=1))
    # One introduction email each (Anna's request email to Bea was dropped: Bea asked too).
    assert sorted(r for m in mailbox.messages for r in m.rcpt_tos) == sorted([anna["email"], bea["email"]])
    to_anna, to_bea = body(mailbox.to(anna["email"])[0]), body(mailbox.to(bea["email"])[0])
    assert bea["email"] in to_anna and "Meet Bea Pair00" in to_anna
    assert anna["email"] in to_bea and "Meet Anna Pair00" in to_bea

    # Anna of pair 1 unsubscribes with the one-click POST her mail program sends (no cookie, no token).
    mailbox.clear()
    assert header.startswith("<http://eventsite.test/u/") and header.endswith(">")
    response = app.test_client().post(header[1:-1].replace("http://eventsite.test", ""),
                                      data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "You're unsubscribed" in page_text(response)

    # A month later: the introduced pair get their keep-in-touch email; the unsubscribed one nothing.
    run(KEEP_IN_TOUCH_DUE)
    assert sorted(r for m in mailbox.messages for r in m.rcpt_tos) == sorted([anna["email"], bea["email"]])
    assert "Bea Pair00" in body(mailbox.to(anna["email"])[0])
    assert mailbox.to(anna1["email"]) == []
    run(RECONNECT_DUE)
    assert mailbox.to(anna1["email"]) == []
    count = len(mailbox.messages)

    # Running the worker again, at any of those moments or later, sends nothing new.
    for moment in (DAY_AFTER_DUE, DAY_AFTER_DUE + timedelta(days=1), KEEP_IN_TOUCH_DUE, RECONNECT_DUE,
                   RECONNECT_DUE + timedelta(days=40)):
        run(moment)
    assert len(mailbox.messages) == count
