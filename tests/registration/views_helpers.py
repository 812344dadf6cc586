"""Helpers for the registration page tests (test_views_*.py): data set up in its own app context,
reading the pages as a browser would, and snapshots of what the database holds."""
from __future__ import annotations

import re
from html import unescape

from sqlalchemy import func, select

from eventsite.core.mail.models import OutboxMessage
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.registration.models import Order, Ticket
from tests.conftest import csrf_from


def in_app(app, fn, *args, **kwargs):
    """Run fn in an app context of its own (never around client requests) and return its result."""
    with app.app_context():
        try:
            return fn(*args, **kwargs)
        finally:
            db.session.remove()


def counts(app) -> dict[str, int]:
    def run():
        return {name: db.session.scalar(select(func.count()).select_from(model))
                for name, model in (("orders", Order), ("tickets", Ticket), ("outbox", OutboxMessage))}
    return in_app(app, run)


def sold(app, ticket_type_id: int) -> tuple[int, int]:
    """(ticket type sold, event sold)."""
    def run():
        tt = db.session.get(TicketType, ticket_type_id)
        return tt.sold, db.session.get(Event, tt.event_id).sold
    return in_app(app, run)


def orders(app) -> list[dict]:
    """Every order with its tickets, as plain data."""
    def run():
        out = []
        for o in db.session.scalars(select(Order).order_by(Order.id)):
            out.append({
                "id": o.id, "token": o.token, "code": o.code, "status": o.status.value, "buyer_name": o.buyer_name,
                "buyer_email": o.buyer_email, "answers": o.answers, "total_cents": o.total_cents,
                "tickets": [{"name": t.attendee_name, "email": t.attendee_email, "type_id": t.ticket_type_id,
                             "status": t.status.value, "secret": t.secret} for t in o.tickets],
            })
        return out
    return in_app(app, run)


# --- reading pages -----------------------------------------------------------------------------

def html_of(response) -> str:
    return response.data.decode("utf-8")


def text_of(html: str) -> str:
    html = re.sub(r"<(script|style|template)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def field_error(html: str, field_id: str) -> str | None:
    """The message shown next to a field (<p class="error ..." id="<field>-error">), or None."""
    m = re.search(rf'<p class="error[^"]*" id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    return text_of(m.group(1)) if m else None


def control(html: str, field_id: str) -> str:
    """The <input>/<select>/<textarea> start tag with this id."""
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if re.search(rf'\bid="{re.escape(field_id)}"', tag):
            return tag
    raise AssertionError(f"no control with id {field_id}")


def checked(html: str, field_id: str) -> bool:
    return re.search(r"\schecked[\s>]", control(html, field_id)) is not None


def attribute(tag: str, name: str) -> str | None:
    m = re.search(rf'\b{re.escape(name)}="([^"]*)"', tag)
    return unescape(m.group(1)) if m else None


def input_value(html: str, name: str) -> str | None:
    for tag in re.findall(r"<input\b[^>]*>", html):
        choice = 'type="radio"' in tag or 'type="checkbox"' in tag
        if re.search(rf'\bname="{re.escape(name)}"', tag) and not choice:
            return attribute(tag, "value") or ""
    m = re.search(rf'<textarea\b[^>]*name="{re.escape(name)}"[^>]*>(.*?)</textarea>', html, re.S)
    return unescape(m.group(1)).lstrip("\r\n") if m else None


def select_options(html: str, name: str) -> tuple[list[str], str | None]:
    """(option values, the selected one) of <select name=...>."""
    m = re.search(rf'<select\b[^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert m, f"no select named {name}"
    values = re.findall(r'<option[^>]*value="([^"]*)"', m.group(1))
    chosen = re.search(r'<option selected value="([^"]*)"|<option[^>]*value="([^"]*)"[^>]*selected', m.group(1))
    return values, (chosen.group(1) or chosen.group(2)) if chosen else None


def summary_links(html: str) -> list[tuple[str, str]]:
    """(href, text) of the links in the error summary."""
    m = re.search(r'<div class="form-errors"[^>]*id="form-errors">(.*?)</div>', html, re.S)
    assert m, "no error summary on the page"
    return [(href, text_of(text)) for href, text in re.findall(r'<a href="([^"]*)">(.*?)</a>', m.group(1), re.S)]


def summary_text(html: str) -> str:
    m = re.search(r'<div class="form-errors"[^>]*id="form-errors">(.*?)</div>', html, re.S)
    assert m, "no error summary on the page"
    return text_of(m.group(1))


def field_names(html: str) -> set[str]:
    """Names of the registration form's controls (the attendee <template> left out)."""
    m = re.search(r'<form[^>]*id="registration-form"[^>]*>(.*?)</form>', html, re.S)
    assert m, "no registration form on the page"
    body = re.sub(r"<template\b.*?</template>", "", m.group(1), flags=re.S)
    return set(re.findall(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"', body))


# --- posting the form --------------------------------------------------------------------------

def register(client, slug: str, data: dict, *, environ_base: dict | None = None):
    """Load the event page, take its CSRF token, post the registration form like a browser would."""
    page = client.get(f"/events/{slug}", environ_base=environ_base or {})
    assert page.status_code == 200, page.status_code
    return client.post(f"/events/{slug}/register", data={"csrf_token": csrf_from(page.data), **data},
                       environ_base=environ_base or {})


def token_from(response) -> str:
    location = response.headers["Location"]
    m = re.fullmatch(r"(?:http://[^/]+)?/tickets/([A-Z0-9]+)", location)
    assert m, location
    return m.group(1)
