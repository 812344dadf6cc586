"""Public registration pages: the form on the event page, "send my ticket again", and the
attendee's private ticket page `/tickets/<token>` (QR codes, calendar file, rename, cancel).

Thin views: read the form, call one service inside `run_in_transaction` (which commits once, or
rolls everything back when the service raises), then redirect or render. `DomainError`s become
messages next to their fields.

Hooks (the README's design section lists them):
- `events.views.event_page_context` gets `event_page_registration`, so the event page has the form.
- `start_payment`: the payments domain sets it to fn(order) -> URL of the payment page, called after
  a paid order (`pending_payment`, seats held) is committed; the visitor is redirected there (303).
  While it is None, a form asking for paid tickets is refused and nothing is written.
- `ticket_page_context`: callbacks fn(order) -> extra context for the ticket page of a paid order.
  The payments domain adds `payment` (see `PAYMENT_KEYS`): the links to pay or to cancel with the
  refund the policy allows, and the amount refunded. Paid orders are cancelled whole, there.
- `ticket_page_sections`: callbacks fn(order) -> HTML or None, cards added to every ticket page
  (connections: her networking profile). `forms.form_sections` adds parts to the registration form;
  `_register` lets them store their part in the registration's transaction.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter.util import get_remote_address

from eventsite.core.db import run_in_transaction, utcnow
from eventsite.core.errors import (
    ConflictError,
    DomainError,
    NotFoundError,
    ValidationError,
)
from eventsite.core.security import tokens_equal
from eventsite.events import display, page_cache
from eventsite.events import views as event_views
from eventsite.events.calendar import event_ics
from eventsite.events.models import Event
from eventsite.events.services import public_event
from eventsite.extensions import limiter
from eventsite.registration import services
from eventsite.registration.answers import answered_lines
from eventsite.registration.errors import (
    AlreadyRegisteredError,
    RegistrationClosedError,
    SoldOutError,
)
from eventsite.registration.forms import (
    Panel,
    RegistrationForm,
    RenameForm,
    registration_form,
)
from eventsite.registration.models import Order, OrderStatus, Ticket, TicketStatus
from eventsite.registration.qr import qr_png, qr_svg
from eventsite.registration.validation import EMAIL_MAX

bp = Blueprint("registration", __name__, template_folder="templates")

start_payment: Callable[[Order], str] | None = None

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

RESENT_MESSAGE = "If that address is registered, the ticket is on its way."


def _payments_available() -> bool:
    return start_payment is not None


def _public_event_or_404(slug: str) -> Event:
    try:
        return public_event(slug)
    except NotFoundError:
        abort(404)  # drafts are never revealed


# --- the form on the event page ----------------------------------------------------------------

def _panel(event: Event, form: RegistrationForm | None, *, step_two: bool = False,
           messages: list[str] | None = None, now: datetime | None = None) -> Panel:
    now = now or utcnow()
    is_open = event.registration_is_open(now)
    if form is None:
        form = registration_form(event, now=now, payments_available=_payments_available())
    if is_open and any(row.field_name for row in form.rows):
        return Panel(form, step_two=step_two, messages=messages or [])
    # Nothing to buy right now: the ticket list, with what went wrong and, when sold out, the waitlist.
    texts = [*(messages or []), *(text for _, text in form.summary())]
    return Panel(None, waitlist=is_open and display.is_sold_out(event), messages=texts)


def event_page_registration(event: Event) -> dict:
    """The event page's callback: the registration form (or the sold-out state) in `registration`."""
    return {"registration": _panel(event, None)}


if event_page_registration not in event_views.event_page_context:
    event_views.event_page_context.append(event_page_registration)


def _event_page(event: Event, panel: Panel, status: int = 200, *, now: datetime | None = None):
    """The event page as events.views.show renders it (every domain's callback), with `panel`."""
    page = display.event_page(event, now=now or utcnow())
    context: dict = {}
    for callback in event_views.event_page_context:
        if callback is not event_page_registration:
            context.update(callback(event))
    context["registration"] = panel
    return render_template("events/show.html", page=page, event=event, **context), status


def _registration_limit() -> str:
    return current_app.config["REGISTRATION_RATE_LIMIT"]


@bp.post("/events/<slug>/register")
@limiter.limit(_registration_limit, key_func=get_remote_address)
def register(slug: str):
    event = _public_event_or_404(slug)
    form = registration_form(event, now=utcnow(), formdata=request.form, payments_available=_payments_available())
    if not form.check_payment(payments_available=_payments_available()):
        form.check_consent()
        return _event_page(event, _panel(event, form), 422)
    if form.needs_attendee_names():
        return _event_page(event, _panel(event, form, step_two=True))
    if not form.check_consent():
        return _event_page(event, _panel(event, form), 422)
    arguments = form.service_arguments()
    try:
        done = run_in_transaction(lambda: _Registered.of(_register(event, arguments, form)))
    except RegistrationClosedError as e:
        return _event_page(event, _panel(event, None, messages=[e.message]), e.status)
    except DomainError as e:
        return _refused(event, slug, e)
    if done.pending_payment:
        return redirect(start_payment(done.order), 303)
    flash(f"You are registered. Your ticket{'s are' if done.tickets > 1 else ' is'} on the way to "
          f"{done.email}; this page is yours, keep its link.", "success")
    return redirect(url_for(".ticket", token=done.token), 303)


def _refused(event: Event, slug: str, error: DomainError):
    """The event page with what the service refused. Seats may have changed: a fresh form from
    what she posted, with the service's messages (or, when nothing is left to buy, the ticket list
    with them).

    A rush turns most of its visitors away (`registration_rush 500x100`: 500 of 600 posts), and the
    sold-out page is the same for every new visitor but for the CSRF token: it is kept like the
    event page (events/page_cache.py), under the event's fingerprint and the refusal's text, and
    stored only when it shows no form (which would hold what she typed)."""
    now = utcnow()
    stored = _sold_out_copy(slug, error)
    if stored is not None:
        copy = page_cache.cache().get(*stored, now)
        if copy is not None:
            return page_cache.serve(copy), error.status
    form = registration_form(event, now=now, formdata=request.form, payments_available=_payments_available())
    if isinstance(error, ValidationError):
        form.apply_errors(error.errors)
    else:
        form.add_error(error.field or "__all__", error.message)
        form.already_registered = isinstance(error, AlreadyRegisteredError)
    panel = _panel(event, form, now=now)
    html, status = _event_page(event, panel, error.status, now=now)
    if stored is not None and panel.form is None:
        page_cache.store(*stored, html, now=now, changes_at=display.next_change(event, now))
    return html, status


def _sold_out_copy(slug: str, error: DomainError) -> tuple[str, tuple] | None:
    """(name, key) under which the page answering this refusal is kept, or None when it is not:
    another refusal than sold out, a visitor whose page is her own (logged in, a flash), or no
    public event any more. The key is the event page's fingerprint (read now, after the refused
    transaction) and the refusal's field and text, which are all the page shows of the error."""
    if not isinstance(error, SoldOutError) or not page_cache.anonymous():
        return None
    fingerprint = page_cache.event_fingerprint(slug)
    if fingerprint is None:
        return None
    return f"/events/{slug}/register", (*fingerprint, error.field, error.message)


@dataclass(frozen=True)
class _Registered:
    """What the answer needs, read inside the transaction (no reload of the order after commit)."""

    order: Order
    pending_payment: bool
    token: str
    email: str
    tickets: int

    @classmethod
    def of(cls, order: Order) -> "_Registered":
        return cls(order, order.status == OrderStatus.PENDING_PAYMENT, order.token, order.buyer_email,
                   len(order.tickets))


def _register(event: Event, arguments: dict, form: RegistrationForm | None = None) -> Order:
    order = services.register_attendees(event, **arguments)
    if order.status == OrderStatus.PENDING_PAYMENT and not _payments_available():
        # The form checks this first; should a paid order slip through, nothing of it is kept.
        raise ConflictError("Online payment is not available yet.", code="payment_unavailable", field="quantity")
    if form is not None:
        form.save_sections(order)  # e.g. the networking profile, in the same transaction
    return order


# --- send my ticket again ----------------------------------------------------------------------

def _resend_limit() -> str:
    return current_app.config.get("RESEND_RATE_LIMIT", "5 per hour")


def _resend_email_limit() -> str:
    return current_app.config.get("RESEND_EMAIL_RATE_LIMIT", "3 per hour")


def _resend_email_key() -> str:
    email = (request.form.get("email") or "").strip().lower()[:EMAIL_MAX]
    return f"resend:{request.view_args.get('slug', '')}:{email}"


@bp.post("/events/<slug>/resend")
@limiter.limit(_resend_limit, key_func=get_remote_address)
@limiter.limit(_resend_email_limit, key_func=_resend_email_key)
def resend(slug: str):
    """Always the same answer: the page never tells who is registered."""
    event = _public_event_or_404(slug)
    email = request.form.get("email") or ""
    run_in_transaction(lambda: services.resend_tickets(event, email))
    return render_template("registration/resent.html", event=event, message=RESENT_MESSAGE)


# --- the ticket page ---------------------------------------------------------------------------

def private(view):
    """The ticket pages are a bearer link: not stored, not indexed, not leaked to other sites."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = current_app.make_response(view(*args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapper


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
        run_in_transaction(lambda: services.cancel_order(order))
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
        run_in_transaction(lambda: services.cancel_ticket(t))
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
