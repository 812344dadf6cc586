"""The check-in service: every result, the scan log, replays, undo, and what the screen is told."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from eventsite.checkin.codes import normalize_code
from eventsite.checkin.models import Scan, ScanResult
from eventsite.checkin.services import (
    check_in,
    check_in_ticket,
    undo_check_in,
    undo_scan,
)
from eventsite.core.db import run_in_transaction, utcnow
from eventsite.core.errors import NotFoundError, ValidationError
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.cancellation import cancel_order
from eventsite.registration.models import OrderStatus, TicketStatus
from tests.checkin.conftest import register, scan_count, scans, ticket, user
from tests.factories import make_event, make_organizer, make_ticket_type


def _scan(door, code, *, staff_email=None, at_door="Door A", request_id=None, now=None):
    event = db.session.get(Event, door.event_id)
    staff = user(staff_email or door.staff_email)
    return run_in_transaction(lambda: check_in(code, event=event, staff=staff, door=at_door,
                                               request_id=request_id, now=now))


def test_ok_admits_once_and_tells_the_door_who_and_what(door, tickets, ctx):
    [secret] = tickets(name="Grace Hopper", answers={str(door.diet_question_id): "Vegan, no nuts",
                                                     str(door.company_question_id): "Navy"})
    before = utcnow()
    result = _scan(door, secret)

    assert result.result is ScanResult.OK and result.admitted
    assert result.headline == "Welcome, Grace Hopper!"
    assert result.ticket_type == "General admission"
    # Only the question marked "show at the door"; not the company.
    assert result.door_answers == [("Dietary requirements", "Vegan, no nuts")]
    assert result.checked_in_door == "Door A" and result.checked_in_by == "Dora Door"
    t = ticket(secret)
    assert t.checked_in_at is not None and t.checked_in_at >= before
    [log] = scans(door.event_id)
    assert (log.result, log.ticket_id, log.door, log.staff_name, log.action) == ("ok", t.id, "Door A", "Dora Door", "check_in")
    assert log.created_at == t.checked_in_at
    assert result.to_json()["ticket"]["door_answers"] == [{"question": "Dietary requirements", "answer": "Vegan, no nuts"}]


def test_door_answers_follow_the_question_order_and_kind(door, tickets, ctx):
    """Only questions shown at the door, ordered by position (not by id); a checkbox reads Yes."""
    from eventsite.events.models import Question, QuestionKind
    from tests.factories import make_question

    event = db.session.get(Event, door.event_id)
    db.session.get(Question, door.diet_question_id).position = 2
    badge = make_question(event, label="Wheelchair access", kind=QuestionKind.CHECKBOX, show_at_door=True,
                          position=1)
    [secret] = tickets(name="Hedy Lamarr", answers={str(door.diet_question_id): "Vegetarian",
                                                    str(badge.id): True, str(door.company_question_id): "MGM"})
    result = _scan(door, secret)

    assert result.door_answers == [("Wheelchair access", "Yes"), ("Dietary requirements", "Vegetarian")]


def test_second_scan_says_already_with_when_where_and_by_whom(door, tickets, ctx, organizer):
    [secret] = tickets(name="Grace Hopper")
    event = db.session.get(Event, door.event_id)
    first_at = utcnow().replace(microsecond=123456)
    first = _scan(door, secret, at_door="Door B", now=first_at)
    again = _scan(door, secret.lower(), staff_email=organizer["email"], at_door="Main entrance")

    assert first.result is ScanResult.OK
    assert again.result is ScanResult.ALREADY_CHECKED_IN and not again.admitted
    assert again.checked_in_at == first_at
    assert again.checked_in_door == "Door B" and again.checked_in_by == "Dora Door"
    local = first_at.astimezone(event.tz).strftime("%H:%M")
    assert again.detail == f"Grace Hopper (General admission) was checked in at {local} at Door B by Dora Door. Do not admit twice."
    assert ticket(secret).checked_in_at == first_at  # unchanged
    assert [s.result for s in scans()] == ["ok", "already_checked_in"]
    assert scans()[1].staff_name == "Olivia Owner" and scans()[1].door == "Main entrance"


def test_cancelled_ticket_is_refused(door, tickets, ctx):
    [secret] = tickets(name="Cora Cancel")
    order = ticket(secret).order
    cancel_order(order)
    db.session.commit()

    result = _scan(door, secret)
    assert result.result is ScanResult.CANCELLED
    assert result.headline == "Cancelled ticket"
    assert "Cora Cancel" in result.detail and "Do not admit" in result.detail
    assert ticket(secret).checked_in_at is None
    assert scans()[0].result == "cancelled"


@pytest.mark.parametrize("status, words", [(OrderStatus.REFUNDED, "was refunded"),
                                           (OrderStatus.EXPIRED, "never paid")])
def test_refunded_or_expired_orders_are_cancelled_at_the_door(door, tickets, ctx, status, words):
    [secret] = tickets(name="Rita Refund", paid=True)
    t = ticket(secret)
    t.order.status = status
    t.status = TicketStatus.CANCELLED
    db.session.commit()
    result = _scan(door, secret)
    assert result.result is ScanResult.CANCELLED and words in result.detail
    assert ticket(secret).checked_in_at is None


def test_unpaid_order_is_refused_and_paid_one_admitted(door, tickets, ctx):
    [unpaid] = tickets(name="Penny Pending", paid=True)
    [paid] = tickets(name="Paula Paid", paid=True, confirm=True)
    assert ticket(unpaid).order.status == OrderStatus.PENDING_PAYMENT

    refused = _scan(door, unpaid)
    assert refused.result is ScanResult.UNPAID
    assert refused.headline == "Unpaid ticket"
    assert ticket(unpaid).order.code in refused.detail
    assert ticket(unpaid).checked_in_at is None
    assert _scan(door, paid).result is ScanResult.OK


def test_another_events_ticket_is_wrong_event_and_names_it_only_within_the_organization(door, tickets, ctx):
    other = make_event(door.organization_id, title="Autumn Mentoring Circle")
    other_type = make_ticket_type(other)
    same_org_order = register(other.id, other_type.id, name="Olga Other")
    stranger = make_organizer("stranger@example.org")
    foreign = make_event(stranger.memberships[0].organization_id, title="Secret Foreign Gala")
    foreign_order = register(foreign.id, make_ticket_type(foreign).id, name="Fiona Foreign")

    same = _scan(door, same_org_order.tickets[0].secret)
    assert same.result is ScanResult.WRONG_EVENT
    assert same.other_event == "Autumn Mentoring Circle"
    assert same.attendee_name == "" and same.to_json()["ticket"] is None
    assert "another event: Autumn Mentoring Circle" in same.detail

    far = _scan(door, foreign_order.tickets[0].secret)
    assert far.result is ScanResult.WRONG_EVENT
    assert far.other_event is None and "Secret Foreign Gala" not in far.detail and "Fiona" not in str(far.to_json())
    # Neither was checked in anywhere; the log names no ticket of another event.
    assert same_org_order.tickets[0].checked_in_at is None
    db.session.expire_all()
    assert all(t.checked_in_at is None for t in (same_org_order.tickets[0], foreign_order.tickets[0]))
    assert [(s.result, s.ticket_id) for s in scans(door.event_id)] == [("wrong_event", None), ("wrong_event", None)]
    assert scans(door.event_id)[0].code.endswith("…") and len(scans(door.event_id)[0].code) == 7


def test_unknown_code(door, tickets, ctx):
    tickets()
    result = _scan(door, "ZZZZZZZZZZZZZZZZZZZZZZZZZZ")
    assert result.result is ScanResult.UNKNOWN
    assert result.headline == "Unknown code" and "search by name" in result.detail
    [log] = scans()
    assert (log.result, log.ticket_id, log.code) == ("unknown", None, "ZZZZZZZZZZZZZZZZZZZZZZZZZZ")


GARBAGE = [
    "", "   ", "\n", "x" * 10_000, "A" * 65, "ABC", "\x00" * 30, "ABCDEFGH\x00IJKLMNOP", "🎟️🎟️🎟️🎟️🎟️🎟️🎟️🎟️",
    "ＡＢＣＤＥＦＧＨＩＪＫ", "ﬁﬁﬁﬁﬁﬁﬁﬁﬁﬁ", "\ud800\udfff" * 10, "https://example.org/t/ABCDEFGHJK",
    b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6", b"ABCDEFGH\xc3\x28", None, 12345678, ["ABCDEFGHJKLMNPQR"],
    {"secret": "x"}, "'; DROP TABLE tickets; --", "%%%%%%%%%%%%", "ABCD_EFGH_JKLM",
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=lambda g: repr(g)[:30])
def test_garbage_is_unknown_never_an_exception_and_checks_nobody_in(door, tickets, ctx, garbage):
    [secret] = tickets()
    result = _scan(door, garbage)
    assert result.result is ScanResult.UNKNOWN
    assert ticket(secret).checked_in_at is None
    [log] = scans()
    assert log.result == "unknown" and len(log.code) <= 64 and "\x00" not in log.code


def test_codes_are_normalised_before_the_lookup(door, tickets, ctx):
    [secret] = tickets()
    assert normalize_code(f"  {secret.lower()}\n") == secret
    assert normalize_code(" ".join([secret[:8], secret[8:16], secret[16:]])) == secret
    assert normalize_code(secret.encode()) == secret
    assert normalize_code(secret[:13] + "-" + secret[13:]) == secret
    assert _scan(door, f"\t{secret.lower()}  ").result is ScanResult.OK


def test_a_replayed_request_id_gets_the_original_answer_and_is_not_a_second_scan(door, tickets, ctx):
    [secret] = tickets(name="Rhea Replay")
    first = _scan(door, secret, request_id="req-0001-aaaa")
    again = _scan(door, secret, request_id="req-0001-aaaa")
    # Even a different code under the same request id: the request was answered already.
    odd = _scan(door, "ZZZZZZZZZZZZZZZZ", request_id="req-0001-aaaa")

    assert first.result is ScanResult.OK and not first.replayed
    for r in (again, odd):
        assert r.result is ScanResult.OK and r.replayed
        assert r.scan_id == first.scan_id and r.attendee_name == "Rhea Replay"
        assert r.checked_in_door == "Door A"
    assert scan_count() == 1
    # A new request id is a new scan: now already checked in.
    assert _scan(door, secret, request_id="req-0002-bbbb").result is ScanResult.ALREADY_CHECKED_IN
    assert scan_count() == 2


def test_request_ids_are_per_event(door, tickets, ctx):
    [secret] = tickets()
    other = make_event(door.organization_id, title="Other evening")
    other_order = register(other.id, make_ticket_type(other).id)
    _scan(door, secret, request_id="shared-request-id")
    staff = user(door.staff_email)
    result = run_in_transaction(lambda: check_in(other_order.tickets[0].secret, event=db.session.get(Event, other.id),
                                                 staff=staff, request_id="shared-request-id"))
    assert result.result is ScanResult.OK and not result.replayed


@pytest.mark.parametrize("bad", ["short", "x" * 65, "has space in it", "\x00\x00\x00\x00\x00\x00\x00\x00", 12345678])
def test_a_malformed_request_id_is_a_validation_error(door, tickets, ctx, bad):
    [secret] = tickets()
    with pytest.raises(ValidationError) as e:
        _scan(door, secret, request_id=bad)
    assert "request_id" in e.value.errors
    assert ticket(secret).checked_in_at is None and scan_count() == 0


def test_door_labels_are_cleaned_and_bounded(door, tickets, ctx):
    [a, b] = tickets(n=2)
    assert _scan(door, a, at_door="  Door\tB \x00 ").checked_in_door == "Door B"
    with pytest.raises(ValidationError) as e:
        _scan(door, b, at_door="D" * 41)
    assert "door" in e.value.errors
    assert ticket(b).checked_in_at is None


def test_undo_then_scan_again_is_ok(door, tickets, ctx):
    [secret] = tickets(name="Uma Undo")
    first = _scan(door, secret)
    undone = run_in_transaction(lambda: undo_scan(db.session.get(Event, door.event_id), first.scan_id,
                                                  staff=user(door.staff_email), door="Door A"))
    assert undone.undone and "Uma Undo is no longer checked in" in undone.message
    assert ticket(secret).checked_in_at is None

    second = _scan(door, secret, at_door="Door C")
    assert second.result is ScanResult.OK and second.checked_in_door == "Door C"
    assert [(s.action, s.result) for s in scans()] == [("check_in", "ok"), ("undo", "undone"), ("check_in", "ok")]
    # "Already" now names the second check-in, not the undone one.
    third = _scan(door, secret)
    assert third.result is ScanResult.ALREADY_CHECKED_IN and third.checked_in_door == "Door C"


def test_a_stale_undo_button_does_not_undo_a_newer_check_in(door, tickets, ctx):
    [secret] = tickets()
    event = db.session.get(Event, door.event_id)
    staff = user(door.staff_email)
    first = _scan(door, secret)
    run_in_transaction(lambda: undo_scan(event, first.scan_id, staff=staff))
    second = _scan(door, secret, now=utcnow() + timedelta(seconds=5))
    late = run_in_transaction(lambda: undo_scan(event, first.scan_id, staff=staff))  # the old button, clicked again

    assert not late.undone
    assert ticket(secret).checked_in_at == second.checked_in_at
    assert scans()[-1].result == "not_checked_in"


def test_undo_check_in_is_idempotent_and_logged(door, tickets, ctx):
    [secret] = tickets()
    _scan(door, secret)
    t = ticket(secret)
    staff = user(door.staff_email)
    assert run_in_transaction(lambda: undo_check_in(t, staff=staff, door="Door A")).undone
    assert not run_in_transaction(lambda: undo_check_in(t, staff=staff, door="Door A")).undone
    assert [s.result for s in scans()] == ["ok", "undone", "not_checked_in"]


def test_undo_refuses_scans_that_are_not_this_events_check_ins(door, tickets, ctx):
    [secret] = tickets()
    event = db.session.get(Event, door.event_id)
    refused = _scan(door, "ZZZZZZZZZZZZZZZZ")
    other = make_event(door.organization_id)
    for scan_id in (refused.scan_id, 999_999, "1", None, True):
        with pytest.raises(NotFoundError):
            undo_scan(event, scan_id, staff=None)
    ok = _scan(door, secret)
    with pytest.raises(NotFoundError):
        undo_scan(other, ok.scan_id, staff=None)


def test_check_in_by_ticket_id_from_search(door, tickets, ctx):
    [secret] = tickets(name="Sara Search")
    other = make_event(door.organization_id)
    stranger_ticket = register(other.id, make_ticket_type(other).id).tickets[0]
    event = db.session.get(Event, door.event_id)
    staff = user(door.staff_email)
    t = ticket(secret)

    ok = run_in_transaction(lambda: check_in_ticket(t.id, event=event, staff=staff, door="Desk"))
    assert ok.result is ScanResult.OK and ok.attendee_name == "Sara Search"
    assert run_in_transaction(lambda: check_in_ticket(t.id, event=event, staff=staff)).result is ScanResult.ALREADY_CHECKED_IN
    # Another event's ticket id, nonsense ids: unknown (an id reveals nothing).
    for bad in (stranger_ticket.id, 0, -1, 2**40, "12", None, True):
        outcome = run_in_transaction(lambda bad=bad: check_in_ticket(bad, event=event, staff=staff))
        assert outcome.result is ScanResult.UNKNOWN
    db.session.expire_all()
    assert stranger_ticket.checked_in_at is None
    assert scans()[0].method == "search"


def test_every_scan_is_logged_append_only(door, tickets, ctx):
    [a] = tickets()
    [unpaid] = tickets(paid=True)
    for code in (a, a, unpaid, "NOPE", ""):
        _scan(door, code)
    rows = db.session.execute(select(Scan.result, Scan.door, Scan.staff_id)).all()
    assert sorted(r[0] for r in rows) == sorted(["ok", "already_checked_in", "unpaid", "unknown", "unknown"])
    assert {r[1] for r in rows} == {"Door A"} and {r[2] for r in rows} == {user(door.staff_email).id}


def test_the_answer_survives_the_commit_as_plain_values(door, tickets, ctx):
    [secret] = tickets(name="Vera Values")
    result = _scan(door, secret)
    db.session.remove()
    data = result.to_json()
    assert data["result"] == "ok" and data["admit"] is True and data["ticket"]["attendee_name"] == "Vera Values"
    assert data["checked_in_at"].endswith("Z") and len(data["checked_in_at_local"]) == 5


def test_checkbox_and_multiple_choice_answers_are_shown_in_words(door, ctx):
    from eventsite.events.models import Question, QuestionKind
    from eventsite.registration.answers import format_answer

    assert format_answer(True, QuestionKind.CHECKBOX) == "Yes"
    assert format_answer(False, QuestionKind.CHECKBOX) == "No"
    assert format_answer(["Talks", "Dinner"], QuestionKind.MULTIPLE_CHOICE) == "Talks, Dinner"
    assert format_answer("", QuestionKind.SHORT_TEXT) == ""
    assert Question  # imported for the kinds
