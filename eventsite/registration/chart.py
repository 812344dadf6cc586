"""The organizer's chart of registrations per day: the counts (`registrations_per_day`) and the
geometry of the server-rendered SVG (`chart_layout`); no script."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from eventsite.core.db import utcnow
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.registration.models import Order, Ticket
from eventsite.registration.reports import CONFIRMED


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int
    cumulative: int


def registrations_per_day(event: Event, *, today: date | None = None) -> list[DayCount]:
    """Tickets registered per local day in the event's zone, with the running total.

    Counts the tickets that hold a place now (valid tickets of confirmed orders), by the day they were
    registered, so the running total ends at the "confirmed" count shown above the list. Every day
    from the first registration to the last one (or to today, when registration still runs) is
    there, days without registrations as 0.

    Aggregated in Python over one narrow query (one timestamp per ticket, streamed in batches), not
    in SQL: a local day needs the IANA zone's rules (DST shifts, half-hour offsets), which PostgreSQL
    has (`AT TIME ZONE`) but SQLite does not, and a fixed UTC offset would put evening registrations
    on the wrong day around a DST change. For a few thousand tickets that is a few milliseconds.
    """
    tz = event.tz
    per_day: Counter[date] = Counter()
    stream = db.session.execute(
        select(Ticket.created_at)
        .join(Order, Order.id == Ticket.order_id)
        .where(Ticket.event_id == event.id, CONFIRMED)
        .execution_options(yield_per=1000)
    )
    for (created,) in stream:
        per_day[created.astimezone(tz).date()] += 1
    if not per_day:
        return []
    first, last = min(per_day), max(per_day)
    today = today or utcnow().astimezone(tz).date()
    last = max(last, min(today, event.local_starts_at.date()))
    out: list[DayCount] = []
    running = 0
    day = first
    while day <= last:
        running += per_day.get(day, 0)
        out.append(DayCount(day, per_day.get(day, 0), running))
        day += timedelta(days=1)
    return out


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: DayCount


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class ChartLayout:
    """Geometry of the SVG: daily bars on the left axis, the running total as a line on the right."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[Bar]
    line: str  # SVG polyline points
    daily_ticks: list[Tick]
    total_ticks: list[Tick]
    x_labels: list[tuple[float, str]]
    days: list[DayCount]

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def plot_bottom(self) -> int:
        return self.height - self.bottom


def _nice_max(value: int) -> int:
    """A round axis maximum >= value whose half is a whole number too: 1, 2, 4, 6, 8, 10, 20, 30..."""
    for k in range(10):
        for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8):
            v = m * 10 ** k
            if v >= value and v == int(v) and (v == 1 or v % 2 == 0):
                return int(v)
    return value  # pragma: no cover - more than 8 billion registrations


def chart_layout(days: list[DayCount], *, width: int = 720, height: int = 280) -> ChartLayout:
    left, right, top, bottom = 44, 52, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(days), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.7, 1.0)
    daily_max = _nice_max(max((d.count for d in days), default=0))
    total_max = _nice_max(days[-1].cumulative if days else 0)
    base = top + plot_h

    bars, points = [], []
    for i, d in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        h = plot_h * d.count / daily_max
        bars.append(Bar(round(x, 2), round(base - h, 2), round(bar_w, 2), round(h, 2), d))
        cx = left + i * slot + slot / 2
        points.append(f"{cx:.2f},{base - plot_h * d.cumulative / total_max:.2f}")

    def ticks(maximum: int) -> list[Tick]:
        values = sorted({0, maximum, *([maximum // 2] if maximum % 2 == 0 else [])})
        return [Tick(round(base - plot_h * v / maximum, 2), str(v)) for v in values]

    label_every = max(1, -(-len(days) // 6))  # at most about 7 dates under the axis
    x_labels = [(left + i * slot + slot / 2, f"{d.day.day} {d.day:%b}")
                for i, d in enumerate(days) if i % label_every == 0 or i == len(days) - 1]
    if len(x_labels) >= 2 and x_labels[-1][0] - x_labels[-2][0] < 40:
        x_labels.pop(-2)  # the last date wins when two would overlap
    return ChartLayout(width, height, left, right, top, bottom, bars, " ".join(points),
                       ticks(daily_max), ticks(total_max), x_labels, days)
