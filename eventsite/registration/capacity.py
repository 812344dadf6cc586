"""Seats: claimed and given back with conditional UPDATEs, never read-then-written (see services.py)."""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import update
from sqlalchemy.orm.util import identity_key

from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.registration.errors import (
    SoldOutError,
)

_tt = TicketType.__table__
_ev = Event.__table__


def claim_ticket_type(tt: TicketType, n: int) -> bool:
    result = db.session.execute(
        update(_tt)
        .where(_tt.c.id == tt.id, _tt.c.sold + n <= _tt.c.capacity)
        .values(sold=_tt.c.sold + n, updated_at=_tt.c.updated_at)  # a sale is not an edit of the type
    )
    db.session.expire(tt, ["sold"])
    return result.rowcount == 1


def claim_event(event: Event, n: int) -> bool:
    result = db.session.execute(
        update(_ev)
        .where(_ev.c.id == event.id, (_ev.c.capacity.is_(None)) | (_ev.c.sold + n <= _ev.c.capacity))
        .values(sold=_ev.c.sold + n, updated_at=_ev.c.updated_at)
    )
    db.session.expire(event, ["sold"])
    return result.rowcount == 1


def give_back(event_id: int, per_type: Mapping[int, int]) -> None:
    """Seats back to sale: ticket types in id order, then the event (the order claims take)."""
    for tid in sorted(per_type):
        db.session.execute(
            update(_tt).where(_tt.c.id == tid).values(sold=_tt.c.sold - per_type[tid], updated_at=_tt.c.updated_at)
        )
    total = sum(per_type.values())
    if total:
        db.session.execute(
            update(_ev).where(_ev.c.id == event_id).values(sold=_ev.c.sold - total, updated_at=_ev.c.updated_at)
        )
    for tid in per_type:
        expire_sold(TicketType, tid)
    expire_sold(Event, event_id)


def sold_out_message(tt: TicketType, n: int, left: int) -> str:
    if left <= 0:
        return f"Sorry, “{tt.name}” is sold out."
    return f"Only {left} of “{tt.name}” {'is' if left == 1 else 'are'} left; choose {left} or fewer."


def claim_all(event: Event, lines: list[tuple[TicketType, int]]) -> None:
    """Claim every line or none: on failure what was claimed is given back in the same transaction."""
    claimed: dict[int, int] = {}
    for tt, n in sorted(lines, key=lambda line: line[0].id):
        if not claim_ticket_type(tt, n):
            give_back_types(claimed)
            left = max(tt.capacity - tt.sold, 0)
            raise SoldOutError(sold_out_message(tt, n, left), field=f"quantity-{tt.id}", ticket_type_id=tt.id)
        claimed[tt.id] = n
    total = sum(claimed.values())
    if not claim_event(event, total):
        give_back_types(claimed)
        left = max((event.capacity or 0) - event.sold, 0)
        first = lines[0][0]
        message = ("Sorry, this event is sold out." if left <= 0
                   else f"Only {left} place{'s' if left != 1 else ''} left at this event; choose {left} or fewer tickets.")
        raise SoldOutError(message, field=f"quantity-{first.id}" if len(lines) == 1 else "quantity",
                           ticket_type_id=first.id if len(lines) == 1 else None)


def give_back_types(claimed: Mapping[int, int]) -> None:
    for tid in sorted(claimed):
        db.session.execute(
            update(_tt).where(_tt.c.id == tid).values(sold=_tt.c.sold - claimed[tid], updated_at=_tt.c.updated_at)
        )
    for tid in claimed:
        expire_sold(TicketType, tid)


def expire_sold(model, id_: int) -> None:
    """The count changed in the database: a loaded object reads it again on next access."""
    obj = db.session.identity_map.get(identity_key(model, id_))
    if obj is not None:
        db.session.expire(obj, ["sold"])

