"""What the door sends, cleaned: the scanned ticket code, the door's label, the request id, the method.

`normalize_code` turns anything a scanner sends into a ticket secret or None (never raises);
`printable` makes it safe for the log. A malformed `door` or `request_id` (which the screen itself
sends) is a `ValidationError`. Used by `checkin.services`.
"""
from __future__ import annotations

import re

from eventsite.checkin.models import METHODS
from eventsite.core.errors import ValidationError
from eventsite.registration.qr import SECRET_RE

MAX_RAW_CODE = 1024  # longer than any ticket code by far: a scanner that sent this sent garbage
DOOR_MAX = 40
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")
_SEPARATORS = re.compile(r"[\s-]+")  # "ABCD EFGH-..." typed from paper


def normalize_code(raw: object) -> str | None:
    """The ticket secret in `raw` (stripped, spaces and dashes removed, upper-cased), or None when it
    cannot be one: not text, not UTF-8, empty, huge, or anything but ASCII letters and digits."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        if len(raw) > MAX_RAW_CODE:
            return None
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(raw, str) or len(raw) > MAX_RAW_CODE:
        return None
    code = _SEPARATORS.sub("", raw)
    if not code.isascii():  # before upper(): "ﬁ".upper() is "FI"
        return None
    code = code.upper()
    return code if SECRET_RE.fullmatch(code) else None


def printable(raw: object, limit: int = 64) -> str:
    """What was scanned, safe for the log and for any database: printable characters only (NUL,
    lone surrogates and other controls become "?"), cut to `limit`."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw[: limit * 4]).decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        return ""
    text = "".join(c if c.isprintable() else "?" for c in raw[: limit + 1].strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_door(door: object) -> str:
    """The door label ("Main entrance", "B"): printable, spaces collapsed, at most 40 characters."""
    if door is None:
        return ""
    if not isinstance(door, str):
        raise ValidationError({"door": "The door must be text, e.g. \"Main entrance\"."})
    text = " ".join("".join(c if c.isprintable() else " " for c in door).split())
    if len(text) > DOOR_MAX:
        raise ValidationError({"door": f"Use at most {DOOR_MAX} characters for the door's name."})
    return text


def clean_request_id(request_id: object) -> str | None:
    if request_id is None or request_id == "":
        return None
    if not isinstance(request_id, str) or not REQUEST_ID_RE.fullmatch(request_id):
        raise ValidationError({"request_id": "Use 8 to 64 letters, digits, dots, dashes, colons or underscores "
                                             "(a UUID is fine), new for each scan."})
    return request_id


def clean_method(method: object) -> str:
    return method if isinstance(method, str) and method in METHODS else ""
