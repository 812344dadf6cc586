"""register_attendees: the happy paths, every validation rule, capacity, one person one registration."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from eventsite.core.db import utcnow
from eventsite.core.errors import ValidationError
from eventsite.core.mail.deferred import materialize_pending
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.security import TOKEN_ALPHABET
from eventsite.events.models import Event, EventStatus, QuestionKind, TicketType
from eventsite.extensions import db
from eventsite.registration import cancellation, services
from eventsite.registration.errors import AlreadyRegisteredError, RegistrationClosedError, SoldOutError
from eventsite.registration.models import Order, OrderSource, OrderStatus, Ticket, TicketStatus
from eventsite.registration.services import register_attendees
from tests.factories import make_event, make_question, make_ticket_type
from tests.registration.helpers import attachment_bytes, count_rows, decode_qr_png, nothing_written


def _register(event, **kw):
    kw.setdefault("buyer_name", "Ada Lovelace")
    kw.setdefault("buyer_email", "ada@example.org")
    kw.setdefault("quantities", {event.ticket_types[0].id: 1})
    return register_attendees(event, **kw)


def _fresh(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


# --- the happy path ----------------------------------------------------------------------------

def test_free_registration_is_confirmed_with_tickets_and_one_confirmation_email(ctx, org_id):
    event = make_event(org_id, title="Women in Leadership Breakfast", timezone="Europe/Berlin")
    general = make_ticket_type(event, name="General", capacity=10)
    q_diet = make_question(event, label="Dietary requirements", kind=QuestionKind.SHORT_TEXT)
    q_topic = make_question(event, label="Table", kind=QuestionKind.SINGLE_CHOICE, options=["Finance", "Tech"], required=True)

    order = register_attendees(
        event,
        buyer_name="  Ada Lovelace ",
        buyer_email="Ada@Example.ORG",
        quantities={str(general.id): "3"},
        attendees=[{"name": "Grace Hopper", "email": "grace@example.org"}, {"name": "Katherine Johnson", "email": ""}],
        answers={str(q_diet.id): "Vegetarian", q_topic.id: "Tech"},
    )
    db.session.commit()

    order = _fresh(order)
    assert order.status == OrderStatus.CONFIRMED and order.source == OrderSource.PUBLIC
    assert order.buyer_name == "Ada Lovelace" and order.buyer_email == "ada@example.org"
    assert order.total_cents == 0 and order.hold_expires_at is None and order.confirmed_at is not None
    assert order.answers == {str(q_diet.id): "Vegetarian", str(q_topic.id): "Tech"}
    assert len(order.code) == 8 and set(order.code) <= set(TOKEN_ALPHABET)
    assert len(order.token) >= 26 and set(order.token) <= set(TOKEN_ALPHABET)

    tickets = order.tickets
    assert [(t.attendee_name, t.attendee_email) for t in tickets] == [
        ("Ada Lovelace", "ada@example.org"), ("Grace Hopper", "grace@example.org"), ("Katherine Johnson", None)]
    assert all(t.status == TicketStatus.VALID and t.event_id == event.id and t.ticket_type_id == general.id for t in tickets)
    secrets_ = [t.secret for t in tickets]
    assert len(set(secrets_)) == 3
    assert all(len(s) >= 26 and set(s) <= set(TOKEN_ALPHABET) for s in secrets_)  # >= 130 bits
    assert order.token not in secrets_

    assert _fresh(general).sold == 3
    assert _fresh(event).sold == 3

    rows = db.session.scalars(select(OutboxMessage)).all()
    assert [r.key for r in rows] == [f"confirmation:{order.id}"]
    mail = rows[0]
    # Queued in the registration's transaction; its content is made by the worker, not the request.
    assert mail.renderer == "registration.confirmation" and mail.text_body == "" and mail.attachments == []
    assert materialize_pending() == 1 and mail.renderer is None
    assert "ada@example.org" in mail.to_addr and "Ada Lovelace" in mail.to_addr
    assert mail.subject == "Your tickets: Women in Leadership Breakfast"
    for body in (mail.text_body, mail.html_body):
        assert "Women in Leadership Breakfast" in body
        assert order.code in body
        assert f"http://eventsite.test/tickets/{order.token}" in body
        assert "Europe/Berlin" in body
        for t in tickets:
            assert t.attendee_name in body and t.secret in body
        assert "Vegetarian" in body
    inline = [a for a in mail.attachments if a["inline_cid"]]
    assert len(inline) == 3
    for a, t in zip(inline, tickets):
        assert f'src="cid:{a["inline_cid"]}"' in mail.html_body
        assert decode_qr_png(attachment_bytes(a)) == [t.secret]
    ics = [a for a in mail.attachments if a["filename"].endswith(".ics")]
    assert len(ics) == 1 and ics[0]["content_type"] == "text/calendar"
    assert b"SUMMARY:Women in Leadership Breakfast" in attachment_bytes(ics[0])


def test_paid_registration_holds_seats_pending_payment_without_email(ctx, org_id, app):
    event = make_event(org_id, currency="EUR")
    paid = make_ticket_type(event, name="Supporter", price_cents=2500, currency="EUR", capacity=5)
    now = utcnow()
    order = _register(event, quantities={paid.id: 2}, attendees=[{"name": "Bea"}], now=now)
    db.session.commit()
    order = _fresh(order)
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.total_cents == 5000 and order.currency == "EUR"
    assert order.hold_expires_at == now + timedelta(minutes=30)
    assert [t.price_cents for t in order.tickets] == [2500, 2500]
    assert _fresh(paid).sold == 2  # held while she pays
    assert count_rows(OutboxMessage) == 0  # the confirmation follows the payment

    app.config["SEAT_HOLD_MINUTES"] = 45
    try:
        other = _register(event, buyer_email="b@example.org", quantities={paid.id: 1}, now=now)
        assert other.hold_expires_at == now + timedelta(minutes=45)
    finally:
        app.config.pop("SEAT_HOLD_MINUTES")


def test_mixed_free_and_paid_types_total_only_the_paid_ones(ctx, org_id):
    event = make_event(org_id)
    free = make_ticket_type(event, name="Student", capacity=5)
    paid = make_ticket_type(event, name="Regular", price_cents=1000, capacity=5)
    order = _register(event, quantities={free.id: 1, paid.id: 2}, attendees=[{"name": "B"}, {"name": "C"}])
    assert order.total_cents == 2000 and order.status == OrderStatus.PENDING_PAYMENT
    assert [t.ticket_type_id for t in order.tickets] == [free.id, paid.id, paid.id]


def test_complimentary_is_free_confirmed_and_may_use_hidden_types(ctx, org_id):
    event = make_event(org_id, registration_closes_at=utcnow() - timedelta(hours=1))
    make_ticket_type(event, name="Regular", price_cents=5000, capacity=5)
    speaker = make_ticket_type(event, name="Speaker", price_cents=5000, capacity=2, hidden=True)
    make_question(event, label="Required question", required=True)
    order = _register(event, quantities={speaker.id: 1}, source="complimentary")
    db.session.commit()
    order = _fresh(order)
    assert order.source == OrderSource.COMPLIMENTARY and order.status == OrderStatus.CONFIRMED
    assert order.total_cents == 0 and order.tickets[0].price_cents == 0
    assert _fresh(speaker).sold == 1  # counted against capacity
    assert count_rows(OutboxMessage) == 1


# --- bad input: every rule, and nothing written --------------------------------------------------

@pytest.fixture
def form_event(ctx, org_id):
    now = utcnow()
    event = make_event(org_id)
    make_ticket_type(event, name="General", capacity=50, max_per_order=4)
    make_ticket_type(event, name="Hidden", capacity=50, hidden=True)
    make_ticket_type(event, name="Early", capacity=50, sales_end=now - timedelta(days=1))
    make_ticket_type(event, name="Later", capacity=50, sales_start=now + timedelta(days=1))
    make_question(event, label="Company", kind=QuestionKind.SHORT_TEXT, required=True)
    make_question(event, label="Why", kind=QuestionKind.LONG_TEXT)
    make_question(event, label="Track", kind=QuestionKind.SINGLE_CHOICE, options=["A", "B"])
    make_question(event, label="Meals", kind=QuestionKind.MULTIPLE_CHOICE, options=["Lunch", "Dinner"])
    make_question(event, label="Code of conduct", kind=QuestionKind.CHECKBOX, required=True)
    other = make_event(org_id)
    make_ticket_type(other, name="Elsewhere", capacity=5)
    return event, other


def _valid_input(event):
    general, hidden, early, later = event.ticket_types
    company, why, track, meals, coc = event.questions
    return {
        "buyer_name": "Ada Lovelace",
        "buyer_email": "ada@example.org",
        "quantities": {f"{general.id}": "1"},
        "attendees": [],
        "answers": {str(company.id): "Analytical Engines Ltd", str(coc.id): "y"},
    }


def _bad_cases():
    """(description, function(event, other, data) that breaks the input, expected error field)."""
    def qty(i):
        return lambda e: f"quantity-{e.ticket_types[i].id}"

    def question(i):
        return lambda e: f"question-{e.questions[i].id}"

    def set_(key, value):
        def apply(e, o, d):
            d[key] = value
        return apply

    def set_qty(i, value):
        def apply(e, o, d):
            d["quantities"] = {str(e.ticket_types[i].id): value}
        return apply

    def set_answer(i, value):
        def apply(e, o, d):
            d["answers"][str(e.questions[i].id)] = value
        return apply

    def drop_answer(i):
        def apply(e, o, d):
            d["answers"].pop(str(e.questions[i].id))
        return apply

    def extra(attendees, n=2):
        def apply(e, o, d):
            d["quantities"] = {str(e.ticket_types[0].id): n}
            d["attendees"] = attendees
        return apply

    def foreign(e, o, d):
        d["quantities"] = {str(o.ticket_types[0].id): 1}

    return [
        ("empty name", set_("buyer_name", "   "), "name"),
        ("name too long", set_("buyer_name", "A" * 201), "name"),
        ("name with newline", set_("buyer_name", "Ada\r\nBcc: x@example.org"), "name"),
        ("name with control char", set_("buyer_name", "Ada\x07"), "name"),
        ("name with tab", set_("buyer_name", "Ada\tL"), "name"),
        ("name with bidi override", set_("buyer_name", "Ada\u202egnp.exe"), "name"),
        ("name not text", set_("buyer_name", ["Ada"]), "name"),
        ("empty email", set_("buyer_email", ""), "email"),
        ("email syntax", set_("buyer_email", "not-an-email"), "email"),
        ("email with header", set_("buyer_email", "ada@example.org\r\nBcc: eve@example.org"), "email"),
        ("email too long", set_("buyer_email", "a" * 250 + "@example.org"), "email"),
        ("no ticket", set_qty(0, "0"), "quantity"),
        ("no quantities at all", set_("quantities", {}), "quantity"),
        ("negative quantity", set_qty(0, -1), qty(0)),
        ("quantity not a number", set_qty(0, "two"), qty(0)),
        ("quantity a float", set_qty(0, 1.5), qty(0)),
        ("quantity a boolean", set_qty(0, True), qty(0)),
        ("over max per order", set_qty(0, 5), qty(0)),
        ("hidden type", set_qty(1, 1), qty(1)),
        ("sales ended", set_qty(2, 1), qty(2)),
        ("sales not started", set_qty(3, 1), qty(3)),
        ("type of another event", foreign, lambda e: None),
        ("unknown type key", set_("quantities", {"abc": 1}), "quantity"),
        ("quantities not a mapping", set_("quantities", [1, 2]), "quantity"),
        ("missing attendee name", extra([{"name": "", "email": ""}]), "attendee-1-name"),
        ("attendees missing entirely", extra([], n=3), "attendee-2-name"),
        ("attendee name with newline", extra([{"name": "Eve\nBcc: x"}]), "attendee-1-name"),
        ("attendee bad email", extra([{"name": "Bea", "email": "bea@"}]), "attendee-1-email"),
        ("more names than tickets", extra([{"name": "Bea"}, {"name": "Cy"}]), "attendee-2-name"),
        ("required question unanswered", drop_answer(0), question(0)),
        ("short text with newline", set_answer(0, "Line\nBreak"), question(0)),
        ("short text too long", set_answer(0, "x" * 301), question(0)),
        ("short text not text", set_answer(0, {"a": 1}), question(0)),
        ("long text too long", set_answer(1, "x" * 4001), question(1)),
        ("long text control char", set_answer(1, "ok\x00"), question(1)),
        ("single choice not an option", set_answer(2, "C"), question(2)),
        ("multiple choice not an option", set_answer(3, ["Lunch", "Breakfast"]), question(3)),
        ("multiple choice wrong type", set_answer(3, {"Lunch": True}), question(3)),
        ("required checkbox unticked", set_answer(4, ""), question(4)),
        ("checkbox nonsense", set_answer(4, "maybe"), question(4)),
        ("answers not a mapping", set_("answers", ["x"]), "__all__"),
    ]


@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: c[0])
def test_bad_input_names_the_field_and_writes_nothing(form_event, case):
    event, other = form_event
    _, breaker, field = case
    data = _valid_input(event)
    breaker(event, other, data)
    with pytest.raises(ValidationError) as info:
        register_attendees(event, **data)
    expected = field(event) if callable(field) else field
    if expected is None:  # a type of another event: named by its own id
        expected = f"quantity-{other.ticket_types[0].id}"
    assert expected in info.value.errors, info.value.errors
    assert info.value.errors[expected]
    db.session.rollback()
    assert nothing_written()
    assert all(tt.sold == 0 for tt in db.session.scalars(select(TicketType)))


def test_the_valid_input_of_the_rule_tests_is_accepted(form_event):
    event, _ = form_event
    order = register_attendees(event, **_valid_input(event))
    company, why, track, meals, coc = event.questions
    assert order.answers == {str(company.id): "Analytical Engines Ltd", str(coc.id): True}


def test_answers_are_normalized(form_event):
    event, _ = form_event
    company, why, track, meals, coc = event.questions
    data = _valid_input(event)
    data["answers"].update({
        str(why.id): "First line\r\nSecond line",
        str(track.id): "B",
        str(meals.id): ["Dinner", "Lunch", "Dinner"],
        "999999": "an answer to a question of no event",
    })
    order = register_attendees(event, **data)
    assert order.answers[str(why.id)] == "First line\nSecond line"
    assert order.answers[str(track.id)] == "B"
    assert order.answers[str(meals.id)] == ["Lunch", "Dinner"]  # the organizer's order, no duplicates
    assert "999999" not in order.answers


def test_all_errors_are_reported_at_once(form_event):
    event, _ = form_event
    with pytest.raises(ValidationError) as info:
        register_attendees(event, buyer_name="", buyer_email="nope", quantities={}, answers={})
    assert {"name", "email", "quantity", f"question-{event.questions[0].id}"} <= set(info.value.errors)


@pytest.mark.parametrize("state", ["draft", "cancelled", "ended", "not_yet_open", "closed"])
def test_closed_event_refuses_registration(ctx, org_id, state):
    now = utcnow()
    kw = {
        "draft": {"status": EventStatus.DRAFT},
        "cancelled": {"status": EventStatus.CANCELLED},
        "ended": {"starts_at": now - timedelta(days=2), "ends_at": now - timedelta(days=1)},
        "not_yet_open": {"registration_opens_at": now + timedelta(days=1)},
        "closed": {"registration_closes_at": now - timedelta(minutes=1)},
    }[state]
    event = make_event(org_id, **kw)
    make_ticket_type(event)
    with pytest.raises(RegistrationClosedError) as info:
        _register(event)
    assert info.value.code == "registration_closed" and info.value.message
    db.session.rollback()
    assert nothing_written()


def test_complimentary_refused_for_cancelled_event(ctx, org_id):
    event = make_event(org_id, status=EventStatus.CANCELLED)
    make_ticket_type(event)
    with pytest.raises(RegistrationClosedError):
        _register(event, source="complimentary")


# --- capacity ----------------------------------------------------------------------------------

def test_sold_out_ticket_type(ctx, org_id, make_order):
    event = make_event(org_id)
    tt = make_ticket_type(event, capacity=3)
    make_order(event, quantities={tt.id: 2}, attendees=[{"name": "B"}])
    with pytest.raises(SoldOutError) as info:
        _register(event, quantities={tt.id: 2}, attendees=[{"name": "B"}])
    assert info.value.code == "sold_out" and info.value.field == f"quantity-{tt.id}"
    assert "Only 1" in info.value.message
    db.session.rollback()
    make_order(event, quantities={tt.id: 1})
    with pytest.raises(SoldOutError) as info:
        _register(event, buyer_email="late@example.org", quantities={tt.id: 1})
    assert "sold out" in info.value.message
    db.session.rollback()
    assert _fresh(tt).sold == 3
    assert count_rows(Ticket) == 3 and count_rows(Order) == 2


def test_sold_out_second_type_gives_back_the_first(ctx, org_id):
    event = make_event(org_id)
    a = make_ticket_type(event, name="A", capacity=5)
    b = make_ticket_type(event, name="B", capacity=0)
    with pytest.raises(SoldOutError) as info:
        _register(event, quantities={a.id: 1, b.id: 1}, attendees=[{"name": "Bea"}])
    assert info.value.field == f"quantity-{b.id}"
    # Given back inside the same transaction: even a caller that commits anyway leaves no trace.
    db.session.commit()
    assert _fresh(a).sold == 0 and _fresh(b).sold == 0 and _fresh(event).sold == 0
    assert nothing_written()


def test_event_capacity_caps_all_types_together(ctx, org_id, make_order):
    event = make_event(org_id, capacity=3)
    a = make_ticket_type(event, name="A", capacity=10)
    b = make_ticket_type(event, name="B", capacity=10)
    make_order(event, quantities={a.id: 2}, attendees=[{"name": "B"}])
    with pytest.raises(SoldOutError) as info:
        _register(event, quantities={b.id: 2}, attendees=[{"name": "C"}])
    assert info.value.code == "sold_out" and "Only 1 place" in info.value.message
    db.session.commit()
    assert (_fresh(a).sold, _fresh(b).sold, _fresh(event).sold) == (2, 0, 2)
    make_order(event, quantities={b.id: 1})
    assert (_fresh(b).sold, _fresh(event).sold) == (1, 3)


def test_event_sold_is_counted_even_without_a_capacity(ctx, event, free_type, make_order):
    make_order(event, quantities={free_type.id: 2}, attendees=[{"name": "B"}])
    assert _fresh(event).sold == 2  # so a capacity set later is checked against the truth


def test_a_sale_does_not_touch_updated_at(ctx, event, free_type, make_order):
    before_event, before_type = event.updated_at, free_type.updated_at
    make_order(event)
    assert _fresh(event).updated_at == before_event
    assert _fresh(free_type).updated_at == before_type


# --- one person, one registration ----------------------------------------------------------------

def test_same_email_twice_is_refused_and_changes_nothing(ctx, event, free_type, make_order):
    make_order(event, email="ada@example.org")
    with pytest.raises(AlreadyRegisteredError) as info:
        _register(event, buyer_email="  ADA@example.org ")
    assert info.value.code == "already_registered" and info.value.field == "email"
    db.session.rollback()
    assert count_rows(Order) == 1 and count_rows(Ticket) == 1 and _fresh(free_type).sold == 1


def test_same_email_may_register_for_another_event_or_after_cancelling(ctx, org_id, event, make_order):
    other = make_event(org_id)
    make_ticket_type(other)
    first = make_order(event, email="ada@example.org")
    make_order(other, email="ada@example.org")
    cancellation.cancel_order(first)
    db.session.commit()
    again = make_order(event, email="ada@example.org")
    assert again.status == OrderStatus.CONFIRMED


def test_the_unique_index_settles_the_race_the_check_cannot_see(ctx, event, free_type, make_order, monkeypatch):
    """Two requests that both passed the duplicate check: the database refuses the second order."""
    make_order(event, email="ada@example.org")
    real = services.live_order_for
    calls = []

    def blind_first_time(ev, email):
        calls.append(email)
        return None if len(calls) == 1 else real(ev, email)

    monkeypatch.setattr(services, "live_order_for", blind_first_time)
    with pytest.raises(AlreadyRegisteredError):
        _register(event, buyer_email="ada@example.org")
    # The transaction is still usable and the claimed seat was given back within it.
    db.session.commit()
    assert count_rows(Order) == 1 and _fresh(free_type).sold == 1 and _fresh(event).sold == 1


# --- identifiers -------------------------------------------------------------------------------

def test_tokens_and_secrets_are_unguessable(ctx, event, free_type, make_order):
    orders = [make_order(event, quantities={free_type.id: 2}, attendees=[{"name": "B"}]) for _ in range(25)]
    orders = [_fresh(o) for o in orders]
    tokens = [o.token for o in orders]
    codes = [o.code for o in orders]
    secrets_ = [t.secret for o in orders for t in o.tickets]
    alphabet = set(TOKEN_ALPHABET)
    assert "0" not in alphabet and "O" not in alphabet and "1" not in alphabet and "I" not in alphabet
    for values, length in ((tokens, 26), (secrets_, 26), (codes, 8)):
        assert len(set(values)) == len(values)
        assert all(len(v) >= length and set(v) <= alphabet for v in values)
    # No sequence: consecutive values differ almost everywhere (random: ~31/32 of positions) and
    # their order has nothing to do with creation order.
    for values in (tokens, secrets_):
        for a, b in zip(values, values[1:]):
            assert sum(x != y for x, y in zip(a, b)) >= len(a) // 2
            assert a[:4] != b[:4]
        assert sorted(values) != values
    # All characters of the alphabet turn up: the values are not drawn from a narrow range.
    assert set("".join(tokens + secrets_)) == alphabet
    # Nothing is found by guessing or counting.
    first = orders[0]
    assert services.order_by_token(first.token).id == first.id
    for guess in (str(first.id), first.code, first.token[:-1], first.token[:-1] + ("A" if first.token[-1] != "A" else "B"),
                  first.token.lower(), "", "x" * 200):
        assert services.order_by_token(guess) is None
    ticket = first.tickets[0]
    assert services.ticket_by_secret(ticket.secret).id == ticket.id
    assert services.ticket_by_secret(ticket.secret.lower()).id == ticket.id  # typed at the door
    for guess in (str(ticket.id), ticket.secret[:-1], first.token):
        assert services.ticket_by_secret(guess) is None


def test_ticket_slots_tell_the_form_which_type_each_attendee_gets(ctx, org_id):
    event = make_event(org_id)
    a = make_ticket_type(event, name="A", position=1)
    b = make_ticket_type(event, name="B", position=0)
    slots = services.ticket_slots(event, {a.id: 1, b.id: 2})
    assert [tt.name for tt in slots] == ["B", "B", "A"]
    assert services.ticket_slots(event, {str(a.id): "1", str(b.id): "x"}) == [a]  # form values, garbage ignored
    order = _register(event, quantities={a.id: 1, b.id: 2}, attendees=[{"name": "Second"}, {"name": "Third"}])
    assert [(t.ticket_type_id, t.attendee_name) for t in order.tickets] == [
        (b.id, "Ada Lovelace"), (b.id, "Second"), (a.id, "Third")]


def test_orders_are_typed_models(ctx, event, make_order):
    order = make_order(event)
    loaded = db.session.scalar(select(Order).where(Order.id == order.id))
    assert isinstance(loaded.event, Event) and isinstance(loaded.tickets[0].ticket_type, TicketType)
    assert loaded.tickets[0].is_valid_for(loaded.event)
    other = make_event(loaded.event.organization_id)
    assert not loaded.tickets[0].is_valid_for(other)


def test_a_stale_sold_out_reading_still_registers_and_confirms(ctx, event, free_type):
    """A stale "sold out" reading of the ticket type must not refuse a seat the claim can still take."""
    from sqlalchemy.orm.attributes import set_committed_value

    set_committed_value(free_type, "sold", free_type.capacity)  # what an old read would show
    order = _register(event)
    db.session.commit()
    materialize_pending()
    [mail] = db.session.scalars(select(OutboxMessage)).all()
    assert mail.key == f"confirmation:{order.id}" and order.tickets[0].secret in mail.text_body
    assert _fresh(free_type).sold == 1
