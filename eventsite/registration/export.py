"""The organizer's CSV export of an event's registrations: every ticket with its order's answers,
streamed in batches, cells made safe for spreadsheets."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from eventsite.core.db import utcnow
from eventsite.core.text import ZERO_DECIMAL
from eventsite.events.models import Event, QuestionKind
from eventsite.extensions import db
from eventsite.registration.answers import format_answer
from eventsite.registration.models import Order, Ticket
from eventsite.registration.reports import (
    ROW_COLUMNS,
    RegistrationFilters,
    RegistrationRow,
    conditions,
    row_from,
)

CSV_BATCH = 500

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one that could start a formula gets a leading apostrophe
    (OWASP's advice against CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _local(dt: datetime | None, tz: ZoneInfo) -> str:
    return "" if dt is None else dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _money(cents: int, currency: str) -> str:
    return str(cents) if currency.upper() in ZERO_DECIMAL else f"{cents / 100:.2f}"


@dataclass(frozen=True)
class CsvColumns:
    """What the export needs to know about the event, read once before streaming starts."""

    timezone: str
    questions: tuple[tuple[str, str, QuestionKind], ...]  # (answer key, label, kind)
    type_names: Mapping[int, str]

    @classmethod
    def of(cls, event: Event) -> CsvColumns:
        return cls(event.timezone, tuple((str(q.id), q.label, q.kind) for q in event.questions),
                   {tt.id: tt.name for tt in event.ticket_types})

    def header(self) -> list[str]:
        zone = self.timezone
        return ["Order code", "Ticket", "Status", "Attendee name", "Attendee email", "Ticket type", "Price",
                "Currency", "Source", "Buyer name", "Buyer email", f"Registered at ({zone})",
                f"Checked in at ({zone})", f"Terms accepted at ({zone})", "Terms URL",
                *(label for _, label, _ in self.questions)]

    def line(self, row: RegistrationRow) -> list[str]:
        answers = row.answers or {}
        tz = ZoneInfo(self.timezone)
        values = [
            row.order_code, row.ticket_id, row.status_label, row.attendee_name, row.attendee_email, row.ticket_type,
            _money(row.price_cents, row.currency), row.currency, row.order_source.value, row.buyer_name,
            row.buyer_email, _local(row.registered_at, tz), _local(row.checked_in_at, tz),
            _local(row.terms_accepted_at, tz), row.terms_url or "",
            *(format_answer(answers.get(key), kind) for key, _, kind in self.questions),
        ]
        return [safe_cell(v) for v in values]


def export_csv(event: Event, filters: RegistrationFilters = RegistrationFilters(), *,
               batch: int = CSV_BATCH) -> Iterator[str]:
    """The CSV, UTF-8 with a byte-order mark (so Excel reads it as UTF-8), as a generator of chunks.

    What the export needs of the event (columns, names, the filters' SQL) is read here, at once; the
    generator then only runs queries. That matters: a streamed response is sent after the view has
    returned, and `stream_with_context` runs it in a new app context with a new session, where the
    view's ORM objects are detached. Rows are read in batches by keyset (`ticket.id > last id`,
    oldest first), one query and one chunk per batch, no transaction or cursor held between chunks: the
    memory used stays flat for any number of tickets and each chunk goes out as soon as it is written.
    """
    return _csv_chunks(CsvColumns.of(event), conditions(event, filters), batch)


def _csv_chunks(columns: CsvColumns, where: list, batch: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in columns.header()])
    yield "\ufeff" + buffer.getvalue()
    last_id = 0
    while True:
        result = db.session.execute(
            select(*ROW_COLUMNS, Order.answers, Order.terms_accepted_at, Order.terms_url)
            .join(Order, Order.id == Ticket.order_id)
            .where(*where, Ticket.id > last_id)
            .order_by(Ticket.id)
            .limit(batch)
        ).all()
        # End the read transaction before the chunk goes out: a slow download never keeps a
        # transaction open or a pooled connection checked out (keyset paging needs neither).
        db.session.rollback()
        if not result:
            return
        buffer.seek(0)
        buffer.truncate()
        for values in result:
            writer.writerow(columns.line(row_from(values, columns.type_names, values[15], terms=(values[16], values[17]))))
        last_id = result[-1][0]
        yield buffer.getvalue()
        if len(result) < batch:
            return


def csv_filename(event: Event, today: date | None = None) -> str:
    today = today or utcnow().astimezone(event.tz).date()
    return f"{event.slug}-registrations-{today.isoformat()}.csv"

