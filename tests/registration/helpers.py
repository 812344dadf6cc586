"""Small helpers for the registration tests (fixtures are in conftest.py)."""
from __future__ import annotations

import base64
import io

from sqlalchemy import func, select

from eventsite.core.mail.models import OutboxMessage
from eventsite.extensions import db
from eventsite.registration.models import Order, Ticket


def count_rows(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def nothing_written() -> bool:
    return count_rows(Order) == 0 and count_rows(Ticket) == 0 and count_rows(OutboxMessage) == 0


def attachment_bytes(item: dict) -> bytes:
    return base64.b64decode(item["data"])


def decode_qr_png(data: bytes) -> list[str]:
    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))]
