"""Registrations per day: local days in the event's zone, a server-rendered, accessible SVG."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest

from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration import chart
from eventsite.registration.cancellation import cancel_order
from eventsite.registration.models import Order
from tests.registration.manage_support import in_app, make_setup, register, text_of

UTC = timezone.utc


@pytest.fixture
def reg(app, organizer):
    """The event of manage_support.make_setup: published, Europe/Berlin, two free types, three questions."""
    return in_app(app, make_setup, organizer["organization_id"])


def _register_on(app, reg, when: datetime, n: int, who: str):
    return register(app, reg.event_id, name=who, email=f"{who.lower()}@example.org",
                    quantities={reg.general_id: n}, attendees=[{"name": f"{who} guest {i}"} for i in range(1, n)],
                    now=when)


def _hidden_table(html: str) -> list[tuple[str, int, int]]:
    table = re.search(r'<table class="visually-hidden" id="chart-data">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r'<time datetime="([\d-]+)">.*?</time></th><td>(\d+)</td><td>(\d+)</td>', table, re.S)
    return [(d, int(a), int(b)) for d, a, b in rows]


def test_the_chart_counts_tickets_per_local_day_with_a_running_total(app, organizer_client, reg):
    # Europe/Berlin is UTC+1 in March: 23:30 UTC on 1 March is already 2 March there.
    _register_on(app, reg, datetime(2026, 3, 1, 10, 0, tzinfo=UTC), 2, "Ada")
    _register_on(app, reg, datetime(2026, 3, 1, 23, 30, tzinfo=UTC), 3, "Bea")
    _register_on(app, reg, datetime(2026, 3, 2, 12, 0, tzinfo=UTC), 1, "Cleo")
    _register_on(app, reg, datetime(2026, 3, 4, 8, 0, tzinfo=UTC), 4, "Dana")
    gone = _register_on(app, reg, datetime(2026, 3, 4, 9, 0, tzinfo=UTC), 5, "Eve")

    def cancel():
        cancel_order(db.session.get(Order, gone["id"]))
        db.session.commit()

    in_app(app, cancel)  # cancelled tickets hold no place: not counted

    def days():
        event = db.session.get(Event, reg.event_id)
        return chart.registrations_per_day(event, today=date(2026, 3, 5))

    assert [(d.day.isoformat(), d.count, d.cumulative) for d in in_app(app, days)] == [
        ("2026-03-01", 2, 2), ("2026-03-02", 4, 6), ("2026-03-03", 0, 6), ("2026-03-04", 4, 10),
        ("2026-03-05", 0, 10),  # up to today while registration runs
    ]

    response = organizer_client.get(f"{reg.base}/registrations/chart")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    table = _hidden_table(html)
    assert table[:4] == [("2026-03-01", 2, 2), ("2026-03-02", 4, 6), ("2026-03-03", 0, 6), ("2026-03-04", 4, 10)]
    assert all(count == 0 and total == 10 for _, count, total in table[4:])  # the days since, up to today

    svg = re.search(r"<svg\b.*?</svg>", html, re.S).group(0)
    assert 'role="img"' in svg and 'aria-labelledby="chart-title chart-desc"' in svg
    assert re.search(r'<title id="chart-title">Registrations per day for Leaders Dinner</title>', svg)
    assert "10 tickets registered from 01 Mar 2026" in svg
    bars = re.findall(r'<rect class="chart-bar"[^>]*data-day="([\d-]+)" data-count="(\d+)"', svg)
    assert [(d, int(c)) for d, c in bars][:4] == [("2026-03-01", 2), ("2026-03-02", 4), ("2026-03-03", 0), ("2026-03-04", 4)]
    heights = {d: float(h) for h, d in re.findall(r'height="([\d.]+)" fill="#6b3fa0" data-day="([\d-]+)"', svg)}
    assert heights["2026-03-02"] == heights["2026-03-04"] > heights["2026-03-01"] > heights["2026-03-03"] == 0
    assert "Tue 03 Mar: 0 registered, 6 in all" in svg
    assert "<script" not in html.split("</main>")[0] and "style=" not in svg  # CSP: no inline script or style


def test_round_axis_maxima():
    assert [chart._nice_max(v) for v in (0, 1, 2, 3, 7, 9, 11, 22, 41, 99, 101, 140, 1234)] == [
        1, 1, 2, 4, 8, 10, 20, 30, 50, 100, 150, 150, 1500]


def test_the_layout_scales_bars_and_line_to_round_maxima():
    days = [chart.DayCount(date(2026, 3, 1) + timedelta(days=i), c, t)
            for i, (c, t) in enumerate([(3, 3), (0, 3), (7, 10)])]
    layout = chart.chart_layout(days)
    plot_h = layout.height - layout.top - layout.bottom
    assert [t.label for t in layout.daily_ticks] == ["0", "4", "8"]  # 7 per day rounds up to 8
    assert [t.label for t in layout.total_ticks] == ["0", "5", "10"]
    assert [b.height for b in layout.bars] == [round(plot_h * 3 / 8, 2), 0, round(plot_h * 7 / 8, 2)]
    last_y = float(layout.line.split()[-1].split(",")[1])
    assert last_y == layout.top  # the running total reaches the top of its axis


def test_no_registrations_yet(organizer_client, reg):
    html = organizer_client.get(f"{reg.base}/registrations/chart").get_data(as_text=True)
    assert "No registrations yet: the chart appears with the first one." in text_of(html)
    assert "<svg" not in html
