"""The wording rules of the public pages, without a request: availability, prices, times, text."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from eventsite.events import display
from eventsite.events.models import Event, EventStatus, TicketType

NOW = datetime(2031, 5, 1, 12, 0, tzinfo=timezone.utc)


def _event(**kw) -> Event:
    kw.setdefault("starts_at", datetime(2031, 6, 1, 16, 30, tzinfo=timezone.utc))
    kw.setdefault("ends_at", kw["starts_at"] + timedelta(hours=3))
    kw.setdefault("timezone", "Europe/Berlin")
    kw.setdefault("status", EventStatus.PUBLISHED)
    kw.setdefault("sold", 0)
    e = Event(title="T", slug="t", **kw)
    e.ticket_types = []
    return e


def _tt(event: Event, **kw) -> TicketType:
    kw.setdefault("price_cents", 0)
    kw.setdefault("currency", "USD")
    kw.setdefault("sold", 0)
    kw.setdefault("hidden", False)
    tt = TicketType(name=kw.pop("name", "A"), **kw)
    event.ticket_types.append(tt)
    return tt


@pytest.mark.parametrize(("capacity", "sold", "label"), [
    (200, 179, "Available"),   # 21 left, 10.5 %
    (200, 180, "20 left"),     # at most 20
    (1000, 899, "Available"),  # 101 left
    (1000, 900, "100 left"),   # 10 % of capacity
    (5, 0, "5 left"),
    (5, 4, "1 left"),
    (5, 5, "Sold out"),
])
def test_few_left_threshold(capacity, sold, label):
    e = _event()
    assert display.ticket_availability(_tt(e, capacity=capacity, sold=sold), e, NOW).label == label


def test_sales_window_and_sold_out_take_precedence():
    e = _event()
    soon = _tt(e, capacity=10, sales_start=NOW + timedelta(days=2))
    assert display.ticket_availability(soon, e, NOW).label == "Sales open Sat 3 May 2031, 14:00 CEST"
    over = _tt(e, capacity=10, sales_end=NOW)
    assert display.ticket_availability(over, e, NOW).code == "ended"
    full = _tt(e, capacity=10, sold=10, sales_start=NOW + timedelta(days=2))
    assert display.ticket_availability(full, e, NOW).label == "Sold out"


def test_price_summary():
    e = _event()
    assert display.price_summary(e) is None
    _tt(e, price_cents=0)
    assert display.price_summary(e) == "Free"
    _tt(e, price_cents=4500)
    _tt(e, price_cents=2500)
    _tt(e, price_cents=100, hidden=True)  # hidden types do not count
    assert display.price_summary(e) == "Free or from $25.00"
    e.ticket_types = [t for t in e.ticket_types if t.price_cents]
    assert display.price_summary(e) == "From $25.00"


def test_sold_out_needs_every_visible_type_sold_out():
    e = _event()
    assert not display.is_sold_out(e)  # nothing to sell yet is not "sold out"
    _tt(e, capacity=3, sold=3)
    hidden = _tt(e, capacity=3, sold=0, hidden=True)
    assert display.is_sold_out(e)
    hidden.hidden = False
    assert not display.is_sold_out(e)


def test_time_range_formats():
    berlin = ZoneInfo("Europe/Berlin")
    e = _event(starts_at=datetime(2031, 10, 25, 22, 0, tzinfo=berlin), ends_at=datetime(2031, 10, 26, 4, 0, tzinfo=berlin))
    # Crosses midnight and the end of summer time.
    assert display.format_range(e) == "Sat 25 Oct 2031, 22:00 CEST – Sun 26 Oct 2031, 04:00 CET"
    dubai = ZoneInfo("Asia/Dubai")
    e = _event(timezone="Asia/Dubai", starts_at=datetime(2031, 3, 3, 9, 0, tzinfo=dubai),
               ends_at=datetime(2031, 3, 3, 17, 0, tzinfo=dubai))
    assert display.format_range(e) == "Mon 3 Mar 2031, 09:00–17:00 UTC+04"


def test_markdown_to_text():
    text = display.markdown_to_text("# Hi\n\nSome **bold** & [a link](https://x.org).\n\n- one\n- two\n\n<b>raw</b>")
    assert text == "Hi\nSome bold & a link (https://x.org).\n\n- one\n- two\n\n<b>raw</b>"


def test_schema_org_price_is_in_the_main_unit():
    assert display.schema_price(2500, "USD") == "25.00"
    assert display.schema_price(1205, "EUR") == "12.05"
    assert display.schema_price(0, "EUR") == "0.00"
    assert display.schema_price(2500, "JPY") == "2500"  # no minor unit: cents are yen
