"""Public registration pages: the form on the event page and "send my ticket again". The attendee's
private ticket page `/tickets/<token>` (QR codes, calendar file, rename, cancel) is in `ticket_views`,
routes of the same blueprint, imported at the end of this module.

Thin views: read the form, call one service inside `run_in_transaction` (which commits once, or
rolls everything back when the service raises), then redirect or render. `DomainError`s become
messages next to their fields.

Hooks (the README's design section lists them):
- `events.views.event_page_context` gets `event_page_registration`, so the event page has the form.
- `start_payment`: the payments domain sets it to fn(order) -> URL of the payment page, called after
  a paid order (`pending_payment`, seats held) is committed; the visitor is redirected there (303).
  While it is None, a form asking for paid tickets is refused and nothing is written.
- `ticket_views.ticket_page_context` and `ticket_views.ticket_page_sections`: the ticket page's.
  `form_builder.form_sections` adds parts to the registration form; `_register` lets them store
  their part in the registration's transaction.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

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
from eventsite.events import display, page_cache
from eventsite.events import views as event_views
from eventsite.events.models import Event
from eventsite.events.services import public_event
from eventsite.extensions import limiter
from eventsite.registration import services
from eventsite.registration.errors import (
    AlreadyRegisteredError,
    RegistrationClosedError,
    SoldOutError,
)
from eventsite.registration.form_builder import registration_form
from eventsite.registration.forms import Panel, RegistrationForm
from eventsite.registration.models import Order, OrderStatus
from eventsite.registration.validation import EMAIL_MAX

bp = Blueprint("registration", __name__, template_folder="templates")

start_payment: Callable[[Order], str] | None = None

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


from eventsite.registration import ticket_views  # noqa: E402, F401  (the ticket page's routes)
