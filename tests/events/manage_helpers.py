"""Helpers for the organizer editor tests: signing in, reading forms and errors, making images."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html import unescape
from io import BytesIO

from eventsite.core.db import utcnow
from tests.conftest import login, post_form

UTC = timezone.utc


def sign_in(client, email: str, password: str = "correct horse battery"):
    """Log in through the real login form, as a person would."""
    return login(client, email, password)


def next_year(month: int, day: int, hour: int = 0, minute: int = 0) -> tuple[int, str]:
    """A year safely in the future and an ISO local date-time string in it (for datetime-local inputs)."""
    year = utcnow().year + 2
    return year, f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}"


def text_of(html: bytes | str) -> str:
    """The page's visible text, tags removed and whitespace collapsed."""
    if isinstance(html, bytes):
        html = html.decode("utf-8")
    html = re.sub(r"<(script|style|datalist)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def field_error(html: bytes | str, field_id: str) -> str | None:
    """The error shown next to a field (the macro's <p class="error" id="<field>-error">), or None."""
    if isinstance(html, bytes):
        html = html.decode("utf-8")
    m = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    return unescape(m.group(1)).strip() if m else None


def input_value(html: bytes | str, name: str) -> str | None:
    """The value an <input name=...> carries, or a <textarea>'s content."""
    if isinstance(html, bytes):
        html = html.decode("utf-8")
    for tag in re.findall(r"<input\b[^>]*>", html):
        if re.search(rf'\bname="{re.escape(name)}"', tag):
            m = re.search(r'\bvalue="([^"]*)"', tag)
            return unescape(m.group(1)) if m else ""
    m = re.search(rf'<textarea\b[^>]*name="{re.escape(name)}"[^>]*>(.*?)</textarea>', html, re.S)
    return unescape(m.group(1)).lstrip("\r\n") if m else None


def described_by(html: bytes | str, field_id: str) -> str:
    """The aria-describedby of the control with this id (errors must be tied to their field)."""
    if isinstance(html, bytes):
        html = html.decode("utf-8")
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if re.search(rf'\bid="{re.escape(field_id)}"', tag):
            m = re.search(r'aria-describedby="([^"]*)"', tag)
            return m.group(1) if m else ""
    raise AssertionError(f"no control with id {field_id}")


def png_bytes(size=(64, 32), color=(106, 44, 145)) -> bytes:
    from PIL import Image

    out = BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def event_form_data(**overrides) -> dict:
    """A complete, valid event form (times in Europe/Berlin, two years ahead)."""
    _, starts = next_year(6, 10, 18, 30)
    _, ends = next_year(6, 10, 21, 0)
    data = {
        "title": "Summer Leadership Evening",
        "slug": "",
        "summary": "Talks and time to meet.",
        "description": "Join us for **talks**.\n\n- networking\n- drinks",
        "starts_at": starts,
        "ends_at": ends,
        "timezone": "Europe/Berlin",
        "venue_name": "Kulturhaus",
        "venue_address": "Hauptstraße 1\n10115 Berlin",
        "online_url": "",
        "capacity": "",
        "currency": "EUR",
        "registration_opens_at": "",
        "registration_closes_at": "",
    }
    data.update(overrides)
    return data


def create_event_via_form(client, **overrides):
    return post_form(client, "/organizer/events/new", event_form_data(**overrides))


def aware(year, month, day, hour=0, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


import pytest  # noqa: E402


@pytest.fixture
def editor(app, organizer):
    """A client signed in as the `organizer` (owner of her organization)."""
    c = app.test_client()
    sign_in(c, organizer["email"])
    return c
