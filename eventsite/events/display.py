"""What the public pages say about an event: times in its zone, prices, availability, JSON-LD.

Plain functions of an event (and `now`), no request state: the views, the calendar file and the
confirmation emails all describe an event the same way.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote_plus, urlparse
from zoneinfo import ZoneInfo

import nh3
from flask import current_app

from eventsite.core.db import utcnow
from eventsite.core.text import ZERO_DECIMAL, format_money, render_markdown
from eventsite.events.models import Event, EventStatus, TicketType

# "12 left" is shown when at most this many remain, or at most this share of the capacity.
FEW_LEFT = 20
FEW_LEFT_SHARE = 0.10

SCHEMA = "https://schema.org/"


# --- addresses ---------------------------------------------------------------------------------

def event_path(event: Event) -> str:
    """The event page's path: part of the public contract (PRODUCT.md), so stable."""
    return f"/events/{event.slug}"


def absolute_url(path: str, base_url: str | None = None) -> str:
    """`path` under EVENTSITE_BASE_URL (links in emails, calendar files, Open Graph, JSON-LD)."""
    base = (base_url if base_url is not None else current_app.config["EVENTSITE_BASE_URL"]).rstrip("/")
    return base + path


def event_url(event: Event, base_url: str | None = None) -> str:
    return absolute_url(event_path(event), base_url)


def cover_path(event: Event) -> str | None:
    return f"/uploads/{event.cover_image}" if event.cover_image else None


def map_url(event: Event) -> str | None:
    """An OpenStreetMap search for the venue: a plain link, nothing embedded, no tracker."""
    query = ", ".join(p for p in (event.venue_name, one_line(event.venue_address)) if p)
    return "https://www.openstreetmap.org/search?query=" + quote_plus(query) if query else None


def one_line(text: str | None) -> str:
    return ", ".join(line.strip() for line in (text or "").splitlines() if line.strip())


# --- times -------------------------------------------------------------------------------------

def zone_abbreviation(dt: datetime) -> str:
    """CET, CEST, EST...; zones without a letter abbreviation say "+04", shown as UTC+04."""
    abbr = dt.strftime("%Z")
    return f"UTC{abbr}" if abbr[:1] in "+-" else abbr


def _day(dt: datetime) -> str:
    return f"{dt:%a} {dt.day} {dt:%b %Y}"


def format_moment(dt: datetime, tz: str) -> str:
    """'Thu 12 Mar 2026, 18:30 CET' in the zone `tz`."""
    local = dt.astimezone(ZoneInfo(tz))
    return f"{_day(local)}, {local:%H:%M} {zone_abbreviation(local)}"


def format_start(event: Event) -> str:
    return format_moment(event.starts_at, event.timezone)


def format_range(event: Event) -> str:
    """'Thu 12 Mar 2026, 18:30–21:30 CET', or both dates when the event spans days."""
    start, end = event.local_starts_at, event.local_ends_at
    a, b = zone_abbreviation(start), zone_abbreviation(end)
    if start.date() == end.date():
        if a == b:
            return f"{_day(start)}, {start:%H:%M}–{end:%H:%M} {b}"
        return f"{_day(start)}, {start:%H:%M} {a} – {end:%H:%M} {b}"
    return f"{_day(start)}, {start:%H:%M} {a} – {_day(end)}, {end:%H:%M} {b}"


# --- tickets -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Availability:
    code: str  # on_sale, few_left, sold_out, not_yet, ended
    label: str  # what the visitor reads
    remaining: int

    @property
    def can_buy(self) -> bool:
        return self.code in ("on_sale", "few_left")

    @property
    def schema_org(self) -> str:
        return SCHEMA + {"sold_out": "SoldOut", "not_yet": "PreOrder", "ended": "SoldOut"}.get(self.code, "InStock")


def visible_ticket_types(event: Event) -> list[TicketType]:
    return [tt for tt in event.ticket_types if not tt.hidden]


def _remaining(tt: TicketType, event: Event) -> int:
    """What is left of this type, within the event's overall capacity if it has one."""
    left = tt.remaining
    if event.capacity is not None:
        left = min(left, max(event.capacity - event.sold, 0))
    return left


def _few(left: int, capacity: int) -> bool:
    return left <= FEW_LEFT or left <= capacity * FEW_LEFT_SHARE


def remaining_as_shown(left: int, capacity: int, max_per_order: int) -> int | None:
    """What is left of a ticket type as far as any page can tell: the number itself when a page
    could show it (few left, or fewer than one order may take), None ("plenty") otherwise. The
    cached public pages (`page_cache`) are keyed on this rather than on every sale."""
    if left <= max(FEW_LEFT, capacity * FEW_LEFT_SHARE, max_per_order):
        return max(left, 0)
    return None


def next_change(event: Event, now: datetime) -> datetime | None:
    """The next moment the event page changes by itself: a ticket type's sales open or close,
    registration opens or closes, the event starts or ends. None when nothing is ahead."""
    moments = [event.registration_opens_at, event.registration_closes_at, event.starts_at, event.ends_at]
    for tt in event.ticket_types:
        moments += [tt.sales_start, tt.sales_end]
    ahead = [m for m in moments if m is not None and m > now]
    return min(ahead, default=None)


def ticket_availability(tt: TicketType, event: Event, now: datetime | None = None) -> Availability:
    now = now or utcnow()
    left = _remaining(tt, event)
    if left <= 0:
        return Availability("sold_out", "Sold out", 0)
    if tt.sales_end and now >= tt.sales_end:
        return Availability("ended", "Sales ended", left)
    if tt.sales_start and now < tt.sales_start:
        return Availability("not_yet", "Sales open " + format_moment(tt.sales_start, event.timezone), left)
    if _few(left, tt.capacity):
        return Availability("few_left", f"{left} left", left)
    return Availability("on_sale", "Available", left)


def is_sold_out(event: Event) -> bool:
    """Every visible ticket type is sold out (or the event's own capacity is reached)."""
    if event.capacity is not None and event.sold >= event.capacity:
        return True
    visible = visible_ticket_types(event)
    return bool(visible) and all(_remaining(tt, event) <= 0 for tt in visible)


def price_summary(event: Event) -> str | None:
    """'Free', 'From $25.00', 'Free or from $25.00', or None before any ticket type exists."""
    visible = visible_ticket_types(event)
    if not visible:
        return None
    paid = [tt for tt in visible if tt.price_cents > 0]
    if not paid:
        return "Free"
    cheapest = min(paid, key=lambda tt: tt.price_cents)
    price = "From " + format_money(cheapest.price_cents, cheapest.currency)
    return price if len(paid) == len(visible) else "Free or f" + price[1:]


def price_label(tt: TicketType) -> str:
    return "Free" if tt.price_cents == 0 else format_money(tt.price_cents, tt.currency)


def registration_note(event: Event, now: datetime | None = None) -> str | None:
    """Why one cannot register right now, or None when registration is open."""
    now = now or utcnow()
    if event.status == EventStatus.CANCELLED:
        return "This event has been cancelled."
    if event.ends_at <= now:
        return "This event has ended."
    if event.registration_opens_at and now < event.registration_opens_at:
        return "Registration opens " + format_moment(event.registration_opens_at, event.timezone) + "."
    if event.registration_closes_at and now >= event.registration_closes_at:
        return "Registration is closed."
    if event.status != EventStatus.PUBLISHED:
        return "Registration is not open."
    return None


# --- text --------------------------------------------------------------------------------------

_LINK = re.compile(r'<a href="([^"]*)"[^>]*>(.*?)</a>', re.S)
_PARAGRAPH_END = re.compile(r"</(p|h[1-6]|blockquote|pre|ul|ol|table)>|<hr ?/?>")
_LINE_END = re.compile(r"</(li|tr)>|<br ?/?>")


def markdown_to_text(source: str | None) -> str:
    """The Markdown description as plain text (calendar files, meta descriptions, text emails)."""
    rendered = str(render_markdown(source))  # sanitized first: hrefs are quoted and safe
    rendered = _LINK.sub(lambda m: m.group(2) if m.group(2) == m.group(1) else f"{m.group(2)} ({m.group(1)})", rendered)
    rendered = re.sub(r">\n", ">", rendered)  # the renderer's own line breaks between tags
    rendered = rendered.replace("<li>", "<li>- ")
    rendered = _LINE_END.sub("\n", _PARAGRAPH_END.sub("\n\n", rendered))
    text = html.unescape(nh3.clean(rendered, tags=set()))
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def short_description(event: Event, limit: int = 200) -> str:
    """One line for <meta name=description> and og:description."""
    text = event.summary or " ".join(markdown_to_text(event.description).split())
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return text


# --- schema.org JSON-LD ------------------------------------------------------------------------

def _place(event: Event) -> dict:
    place: dict = {"@type": "Place", "name": event.venue_name or one_line(event.venue_address)}
    if event.venue_address:
        place["address"] = {"@type": "PostalAddress", "streetAddress": one_line(event.venue_address)}
    return place


def schema_price(cents: int, currency: str) -> str:
    """The amount in the currency's main unit, as schema.org wants it: "25.00" (but "2500" yen)."""
    return str(cents) if currency.upper() in ZERO_DECIMAL else f"{cents // 100}.{cents % 100:02d}"


def event_json_ld(event: Event, *, base_url: str | None = None, now: datetime | None = None) -> dict:
    """A schema.org Event. Render it with `|tojson`, which escapes `<` so `</script>` cannot end the tag."""
    now = now or utcnow()
    page = event_url(event, base_url)
    in_person = bool(event.venue_name or event.venue_address)
    online = bool(event.online_url)
    if in_person and online:
        mode, location = "MixedEventAttendanceMode", [_place(event), {"@type": "VirtualLocation", "url": event.online_url}]
    elif online:
        mode, location = "OnlineEventAttendanceMode", {"@type": "VirtualLocation", "url": event.online_url}
    else:
        mode, location = "OfflineEventAttendanceMode", _place(event)
    data: dict = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": event.title,
        "url": page,
        "startDate": event.local_starts_at.isoformat(),
        "endDate": event.local_ends_at.isoformat(),
        "eventStatus": SCHEMA + ("EventCancelled" if event.status == EventStatus.CANCELLED else "EventScheduled"),
        "eventAttendanceMode": SCHEMA + mode,
        "location": location,
        "description": event.summary or markdown_to_text(event.description),
    }
    if event.organization is not None:
        data["organizer"] = {"@type": "Organization", "name": event.organization.name}
    if event.cover_image:
        data["image"] = [absolute_url(cover_path(event), base_url)]
    offers = []
    for tt in visible_ticket_types(event):
        availability = ticket_availability(tt, event, now)
        offer = {
            "@type": "Offer",
            "name": tt.name,
            "price": schema_price(tt.price_cents, tt.currency),
            "priceCurrency": tt.currency,
            "availability": availability.schema_org,
            "url": page,
        }
        if tt.sales_start:
            offer["validFrom"] = tt.sales_start.astimezone(event.tz).isoformat()
        offers.append(offer)
    if offers:
        data["offers"] = offers
    return data


# --- what the templates get --------------------------------------------------------------------

@dataclass(frozen=True)
class EventCard:
    event: Event
    when: str
    where: str
    price: str | None
    sold_out: bool
    cover: str | None


def event_card(event: Event) -> EventCard:
    where = event.venue_name or one_line(event.venue_address) or ("Online" if event.online_url else "Venue to be announced")
    return EventCard(event, format_start(event), where, price_summary(event), is_sold_out(event), cover_path(event))


@dataclass(frozen=True)
class TicketRow:
    ticket_type: TicketType
    price: str
    availability: Availability


@dataclass(frozen=True)
class EventPage:
    event: Event
    when: str
    timezone: str
    map_url: str | None
    tickets: list[TicketRow]
    sold_out: bool
    registration_note: str | None
    cancelled: bool
    url: str
    cover: str | None
    cover_url: str | None
    description: str
    json_ld: dict
    online_host: str | None


def event_page(event: Event, *, now: datetime | None = None, base_url: str | None = None) -> EventPage:
    now = now or utcnow()
    cover = cover_path(event)
    return EventPage(
        event=event,
        when=format_range(event),
        timezone=event.timezone,
        map_url=map_url(event) if (event.venue_name or event.venue_address) else None,
        tickets=[TicketRow(tt, price_label(tt), ticket_availability(tt, event, now)) for tt in visible_ticket_types(event)],
        sold_out=is_sold_out(event),
        registration_note=registration_note(event, now),
        cancelled=event.status == EventStatus.CANCELLED,
        url=event_url(event, base_url),
        cover=cover,
        cover_url=absolute_url(cover, base_url) if cover else None,
        description=short_description(event),
        json_ld=event_json_ld(event, base_url=base_url, now=now),
        online_host=urlparse(event.online_url).hostname if event.online_url else None,
    )
