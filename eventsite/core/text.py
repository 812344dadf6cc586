"""Rendering helpers: Markdown to safe HTML, money, local times, slugs."""
from __future__ import annotations

import functools
import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")

_ALLOWED_TAGS = {
    "p", "br", "strong", "em", "del", "a", "ul", "ol", "li", "blockquote", "code", "pre",
    "h2", "h3", "h4", "hr", "table", "thead", "tbody", "tr", "th", "td",
}


def render_markdown(source: str | None) -> Markup:
    """Markdown rendered with raw HTML disabled, then sanitized again with nh3 (defence in depth).

    The same description is shown on every view of its event page: the result is kept per source
    text (a pure function of it; a few hundred of the longest-lived texts)."""
    return _render_markdown(source or "")


@functools.lru_cache(maxsize=512)
def _render_markdown(source: str) -> Markup:
    html = _md.render(source)
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)


CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "CHF": "CHF ", "JPY": "¥"}
ZERO_DECIMAL = {"JPY", "KRW", "VND", "CLP", "ISK", "UGX"}


def format_money(cents: int, currency: str) -> str:
    currency = (currency or "").upper()
    symbol = CURRENCY_SYMBOLS.get(currency)
    amount = f"{cents:,}" if currency in ZERO_DECIMAL else f"{cents / 100:,.2f}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def format_local(dt: datetime | None, tz: str, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    if dt is None:
        return ""
    return dt.astimezone(ZoneInfo(tz)).strftime(fmt)


def slugify(text: str, max_length: int = 80) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text[:max_length].rstrip("-") or "event"


SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
