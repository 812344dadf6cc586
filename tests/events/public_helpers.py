"""Helpers for the public-page tests: dates relative to today, and reading the pages."""
from __future__ import annotations

import json
import re
from datetime import datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from eventsite.core.db import utcnow

BERLIN = ZoneInfo("Europe/Berlin")


def future_local(month: int, day: int, hour: int, minute: int = 0, tz: ZoneInfo = BERLIN, years_ahead: int = 2) -> datetime:
    """An aware datetime in `tz`, `years_ahead` years from now (always upcoming, DST season chosen by month)."""
    return datetime(utcnow().year + years_ahead, month, day, hour, minute, tzinfo=tz)


def json_ld(html: str) -> dict:
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert len(blocks) == 1, f"expected one JSON-LD block, found {len(blocks)}"
    return json.loads(blocks[0])


_BLOCKS = {"p", "div", "li", "ul", "ol", "br", "h1", "h2", "h3", "h4", "address", "section", "article", "aside",
           "header", "footer", "main", "nav", "time", "td", "th", "tr", "span"}


class _Meta(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta":
            key = a.get("property") or a.get("name")
            if key:
                self.meta[key] = a.get("content") or ""
        if tag in ("script", "style", "head"):
            self._skip += 1
        if tag in _BLOCKS:
            self.text.append(" ")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head"):
            self._skip -= 1
        if tag in _BLOCKS:
            self.text.append(" ")

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def meta_tags(html: str) -> dict[str, str]:
    """<meta name=...>/<meta property=...> contents, attribute values unescaped."""
    p = _Meta()
    p.feed(html)
    return p.meta


def visible_text(html: str) -> str:
    """The page's text as a reader sees it (entities decoded, whitespace collapsed)."""
    p = _Meta()
    p.feed(html)
    return " ".join("".join(p.text).split())


def card_for(html: str, title: str) -> str:
    """The HTML of the home page's card whose text holds `title`."""
    cards = [c for c in html.split('<li class="event-card">')[1:] if title in c]
    assert len(cards) == 1, f"expected one card for {title!r}, found {len(cards)}"
    return cards[0].split("</li>")[0]
