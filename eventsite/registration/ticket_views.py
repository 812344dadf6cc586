"""The attendee's private ticket page `/tickets/<token>`: her tickets with their QR codes, the
calendar file, rename and cancel. Routes of the `registration` blueprint (`views`, which imports this
module at its end), so their endpoints are `registration.ticket`, `registration.rename`, ...

Thin views, as in `views`: one service inside `run_in_transaction`, then redirect or render.

Hooks (the README's design section lists them):
- `ticket_page_context`: callbacks fn(order) -> extra context for the ticket page of a paid order.
  The payments domain adds `payment` (see `PAYMENT_KEYS`): the links to pay or to cancel with the
  refund the policy allows, and the amount refunded. Paid orders are cancelled whole, there.
- `ticket_page_sections`: callbacks fn(order) -> HTML or None, cards added to every ticket page
  (connections: her networking profile; privacy: "Your data").
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from eventsite.core.db import run_in_transaction, utcnow
from eventsite.core.errors import DomainError, ValidationError
from eventsite.core.security import tokens_equal
from eventsite.core.web import private
from eventsite.events import display
from eventsite.events.calendar import event_ics
from eventsite.registration import cancellation, services
from eventsite.registration.answers import answered_lines
from eventsite.registration.forms import RenameForm
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus
from eventsite.registration.qr import qr_png, qr_svg
from eventsite.registration.views import bp

# What a `ticket_page_context` callback may put under `payment` (a dict; missing keys are None):
# `pay_url` (pending: her payment page), `processing` (a delayed payment is on its way),
# `cancel_url` (paid and confirmed: cancel with the policy's refund), `refund_text` (the latest
# refund's amount, e.g. "€50.00"), `late_payment` (that refund is because she paid after her seats
# were gone).
PAYMENT_KEYS = ("pay_url", "processing", "cancel_url", "refund_text", "late_payment")
ticket_page_context: list[Callable[[Order], dict]] = []
# Callbacks fn(order) -> HTML (Markup) or None: cards that higher domains add to the ticket page,
# after the tickets (connections: her networking profile, people she knows who are coming too).
ticket_page_sections: list[Callable[[Order], Any]] = []


def _order_or_404(token: str) -> Order:
    order = services.order_by_token(token)
    if order is None:
        abort(404)
    return order


def _nth_ticket_or_404(order: Order, n: int) -> Ticket:
    if not 1 <= n <= len(order.tickets):
        abort(404)
    return order.tickets[n - 1]


def shows_qr(ticket: Ticket) -> bool:
    """Only a ticket that admits someone has a code: valid, and its order confirmed (paid or free)."""
    return ticket.status == TicketStatus.VALID and ticket.order.status == OrderStatus.CONFIRMED


def _ticket_page(order: Order, *, forms: dict[int, RenameForm] | None = None, status: int = 200):
    forms = forms or {}
    editable = order.is_live
    items = []
    for n, t in enumerate(order.tickets, start=1):
        form = forms.get(n)
        if form is None and editable and t.status == TicketStatus.VALID:
            form = RenameForm(formdata=None, data={"name": t.attendee_name, "email": t.attendee_email or ""})
        items.append({
            "n": n,
            "ticket": t,
            "qr": qr_svg(t.secret, label=f"QR code of ticket {n}, {t.attendee_name}") if shows_qr(t) else None,
            "form": form.for_ticket(n) if form is not None and t.status == TicketStatus.VALID and editable else None,
            "open": n in forms,
        })
    now = utcnow()
    return render_template(
        "registration/ticket.html", order=order, event=order.event, items=items,
        when=display.format_range(order.event), map_url=display.map_url(order.event),
        answers=answered_lines(order.event, order.answers), valid_count=len(order.valid_tickets),
        payment=_payment_context(order),
        hold_open=order.hold_expires_at is not None and order.hold_expires_at > now,
        sections=[html for callback in ticket_page_sections if (html := callback(order))],
    ), status


def _payment_context(order: Order) -> dict:
    """The `payment` dict of the ticket page (every key of PAYMENT_KEYS, None when not given)."""
    payment: dict = dict.fromkeys(PAYMENT_KEYS)
    if order.is_paid:
        for callback in ticket_page_context:
            payment.update(callback(order).get("payment") or {})
    return payment


@bp.get("/tickets/<token>")
@private
def ticket(token: str):
    return _ticket_page(_order_or_404(token))


@bp.get("/tickets/<token>.ics")
@private
def ticket_ics(token: str):
    event = _order_or_404(token).event
    return current_app.response_class(
        event_ics(event), mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="{event.slug}.ics"'},
    )


@bp.get("/tickets/<token>/qr/<secret>.png")
@private
def ticket_qr(token: str, secret: str):
    order = _order_or_404(token)
    match = next((t for t in order.tickets if tokens_equal(t.secret, secret)), None)
    if match is None or not shows_qr(match):
        abort(404)
    return current_app.response_class(qr_png(match.secret), mimetype="image/png")


@bp.post("/tickets/<token>/<int:n>/rename")
@private
def rename(token: str, n: int):
    order = _order_or_404(token)
    t = _nth_ticket_or_404(order, n)
    form = RenameForm()
    try:
        run_in_transaction(lambda: services.rename_attendee(t, form.name.data or "", form.email.data or None))
    except ValidationError as e:
        form.apply_errors(e.errors)
        return _ticket_page(order, forms={n: form}, status=e.status)
    except DomainError as e:
        form.form_errors.append(e.message)
        return _ticket_page(order, forms={n: form}, status=e.status)
    flash(f"Ticket {n} is now in the name of {t.attendee_name}.", "success")
    return redirect(url_for(".ticket", token=token), 303)


@bp.route("/tickets/<token>/cancel", methods=["GET", "POST"])
@private
def cancel_order(token: str):
    order = _order_or_404(token)
    if request.method == "GET":
        return _paid_cancel_redirect(order) or _confirm_page(order, None)
    try:
        run_in_transaction(lambda: cancellation.cancel_order(order))
    except DomainError as e:
        return _confirm_page(order, None, error=e.message, status=e.status)
    flash("Your registration is cancelled. A confirmation is on its way by email.", "success")
    return redirect(url_for(".ticket", token=token), 303)


@bp.route("/tickets/<token>/<int:n>/cancel", methods=["GET", "POST"])
@private
def cancel_ticket(token: str, n: int):
    order = _order_or_404(token)
    t = _nth_ticket_or_404(order, n)
    if request.method == "GET":
        return _paid_cancel_redirect(order) or _confirm_page(order, n)
    try:
        run_in_transaction(lambda: cancellation.cancel_ticket(t))
    except DomainError as e:
        return _confirm_page(order, n, error=e.message, status=e.status)
    flash(f"Ticket {n} is cancelled. A confirmation is on its way by email.", "success")
    return redirect(url_for(".ticket", token=token), 303)


def _paid_cancel_redirect(order: Order):
    """A paid order is cancelled whole, with its refund, on the payment domain's page (an old link
    or a typed URL to cancel one ticket of it lands there), or nowhere while it is not paid."""
    if not order.is_paid:
        return None
    return redirect(_payment_context(order)["cancel_url"] or url_for(".ticket", token=order.token), 303)


def _confirm_page(order: Order, n: int | None, *, error: str | None = None, status: int = 200):
    t = order.tickets[n - 1] if n else None
    if t is not None:
        cancellable = t.status == TicketStatus.VALID and order.is_live
    else:
        cancellable = order.is_live and bool(order.valid_tickets)
    return render_template("registration/cancel.html", order=order, event=order.event, n=n, ticket=t,
                           cancellable=cancellable, error=error), status
