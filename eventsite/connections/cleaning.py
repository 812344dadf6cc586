"""Cleaning what people type into this domain's forms: one-line texts, web addresses, tags chosen
from the event's list, and the organizer's tag list.

Plain functions of the input and an `errors` dict: each adds a message under the form's field name
and returns what it could keep; the caller raises `ValidationError(errors)` once. Text is plain (no
markup, no control or direction-changing characters), whitespace collapsed, length-capped; anything
longer than `RAW_INPUT_MAX` is refused before it is looked at. No database, no Flask.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from eventsite.connections.matching import tag_key

INTRO_MAX = 160
COMPANY_MAX = 120
SENTENCE_MAX = 280
URL_MAX = 300
TAGS_PER_SIDE = 5
EVENT_TAGS_MAX = 40
TAG_MAX = 40
STEP_DAYS_MAX = 365
REQUEST_LAPSE_DAYS = 14
RAW_INPUT_MAX = 5000  # anything longer is refused before it is looked at

_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!?][^>]*>|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]{2,8});|\[[^\]]*\]\([^)]*\)")
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def parse_tags(raw: Any, errors: dict[str, str], field: str = "tags") -> list[str]:
    """The organizer's tag list: one per line (commas also separate), deduplicated, in her order."""
    if raw is None:
        raw = ""
    if isinstance(raw, (list, tuple)):
        raw = "\n".join(str(x) for x in raw)
    if not isinstance(raw, str) or len(raw) > RAW_INPUT_MAX * 2:
        errors[field] = "Enter the tags as text, one per line."
        return []
    out: list[str] = []
    seen: set[str] = set()
    for piece in re.split(r"[\n,;]", raw):
        label = " ".join(piece.split())
        if not label:
            continue
        if len(label) > TAG_MAX:
            errors[field] = f"Keep each tag to {TAG_MAX} characters (“{label[:30]}…” is longer)."
            return out
        if _BAD_CHARS.search(label) or _MARKUP.search(label) or "<" in label or ">" in label:
            errors[field] = "Tags are plain text: no markup or special characters."
            return out
        if tag_key(label) in seen:
            continue
        seen.add(tag_key(label))
        out.append(label)
    if len(out) > EVENT_TAGS_MAX:
        errors[field] = f"At most {EVENT_TAGS_MAX} tags, so that the list stays easy to choose from."
    return out


def clean_text(value: Any, field: str, limit: int, errors: dict[str, str]) -> str:
    """One line of plain text: whitespace collapsed, no markup, at most `limit` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[field] = "Enter this as text."
        return ""
    if len(value) > RAW_INPUT_MAX:
        errors[field] = f"That is far too long: keep it to {limit} characters."
        return ""
    if _BAD_CHARS.search(value):
        errors[field] = "Use letters, numbers and punctuation only: no control characters."
        return ""
    text = " ".join(value.split())
    if len(text) > limit:
        errors[field] = f"Keep it to {limit} characters (this is {len(text)})."
    elif _MARKUP.search(text):
        errors[field] = "Plain text only, please: no HTML, links in brackets or other markup."
    return text


def clean_url(value: Any, field: str, errors: dict[str, str], *, linkedin: bool = False) -> str:
    """An http(s) address (https:// is added when she leaves it out), or "" for none."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > RAW_INPUT_MAX:
        errors[field] = "Enter a web address."
        return ""
    text = value.strip()
    if not text:
        return ""
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text) and not re.match(r"^[^:/]+:\d", text):
            errors[field] = "Enter an address starting with https:// (or http://)."
            return ""
        text = "https://" + text
    bad = (len(text) > URL_MAX or _BAD_CHARS.search(text) or any(c.isspace() for c in text)
           or '"' in text or "<" in text or ">" in text)
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, host, port_ok = None, "", False
    if bad or parts is None or not port_ok:
        errors[field] = f"Enter a web address of at most {URL_MAX} characters, like https://example.org."
        return ""
    if parts.scheme.lower() not in ("http", "https"):
        errors[field] = "Only http:// and https:// addresses can be shown."
        return ""
    if "@" in parts.netloc or "." not in host or host.startswith(".") or host.endswith("."):
        errors[field] = "Enter a web address like https://example.org."
        return ""
    if linkedin and not (host == "linkedin.com" or host.endswith(".linkedin.com")):
        errors[field] = "Enter your LinkedIn address, like https://www.linkedin.com/in/your-name."
        return ""
    return text


def clean_tags(values: Any, allowed: list[str], field: str, errors: dict[str, str]) -> list[str]:
    """Tags chosen from the event's list (in the list's order and spelling), at most TAGS_PER_SIDE."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)) or len(values) > 100:
        errors[field] = "Choose from the list."
        return []
    labels = {tag_key(t): t for t in allowed}
    chosen: set[str] = set()
    for v in values:
        if not isinstance(v, str) or tag_key(v) not in labels:
            errors[field] = "Choose from the list."
            return []
        chosen.add(tag_key(v))
    if len(chosen) > TAGS_PER_SIDE:
        errors[field] = f"Choose at most {TAGS_PER_SIDE}: the ones that matter most now."
    return [t for t in allowed if tag_key(t) in chosen]


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)
