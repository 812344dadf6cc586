"""Public waitlist pages (blueprint `waitlist`).

- `/events/<slug>/waitlist`: GET the join form on its own page (the event page embeds the same form,
  `registration/_waitlist.html`, when everything is sold out); POST joins, then redirects to her
  waitlist page. Rate-limited per client address and per email address.
- `/waitlist/<token>`: her waitlist page: place in the queue, or the offer with its claim form.
- `/waitlist/<token>/claim` (POST): claim the offer; redirects to her ticket page `/tickets/<token>`.
- `/waitlist/<token>/leave`: GET asks, POST leaves (declining an open offer passes it on).

The rules are in `registration/waitlist.py` (the queue) and `registration/waitlist_offers.py` (offers,
claims, leaving); these views read the form, call one service in `run_in_transaction` (commit once,
retry transient conflicts), and render or redirect.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

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
from eventsite.core.errors import DomainError, NotFoundError, ValidationError
from eventsite.events.display import (
    format_moment,
    format_range,
    price_label,
    registration_note,
)
from eventsite.events.models import Event
from eventsite.events.services import public_event
from eventsite.extensions import db, limiter
from eventsite.registration import waitlist, waitlist_offers
from eventsite.registration.errors import WaitlistLinkError
from eventsite.registration.models import OrderStatus
from eventsite.registration.validation import EMAIL_MAX

bp = Blueprint("waitlist", __name__, template_folder="templates")

JOIN_FIELDS = ("name", "email", "ticket_type", "quantity")
_ATTENDEE_KEY = re.compile(r"^attendee-(\d{1,3})-(name|email)$")


# --- the join form (also embedded in the event page) --------------------------------------------

@dataclass
class JoinForm:
    event: Event
    choices: list[waitlist.WaitlistChoice]
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def offer_hours(self) -> str:
        hours = waitlist.offer_hours()
        return str(int(hours)) if hours == int(hours) else str(hours)

    @property
    def max_quantity(self) -> int:
        return max((c.max_quantity for c in self.choices), default=1)

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default) or default


def waitlist_form_for(event: Event, values: dict | None = None, errors: dict | None = None) -> JoinForm:
    """The join form's state for `event` (a template global: the event page's partial calls it)."""
    return JoinForm(event, waitlist.waitlist_choices(event, utcnow()), dict(values or {}), dict(errors or {}))


def _join_limit() -> str:
    return current_app.config.get("WAITLIST_RATE_LIMIT") or "10 per hour"


def _email_key() -> str:
    return "waitlist-email:" + (request.form.get("email") or "").strip().lower()[:EMAIL_MAX]


def _public_event_or_404(slug: str) -> Event:
    try:
        return public_event(slug)
    except NotFoundError:
        abort(404)


@bp.route("/events/<slug>/waitlist", methods=["GET", "POST"])
@limiter.limit(_join_limit, key_func=get_remote_address, methods=["POST"])
@limiter.limit(_join_limit, key_func=_email_key, methods=["POST"])
def join(slug: str):
    event = _public_event_or_404(slug)
    values, errors, status = {"quantity": "1"}, {}, 200
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in JOIN_FIELDS}
        event_id = event.id
        try:
            entry = run_in_transaction(lambda: waitlist.join_waitlist(db.session.get(Event, event_id), **values))
        except ValidationError as e:
            errors, status = e.errors, 422
        except DomainError as e:
            errors, status = {e.field or "__all__": e.message}, e.status
        else:
            return redirect(url_for("waitlist.show", token=entry.token), 303)
    return render_template(
        "registration/waitlist_join.html", event=event, when=format_range(event),
        note=registration_note(event, utcnow()), waitlist_form=waitlist_form_for(event, values, errors),
    ), status


# --- her waitlist page: status, offer, claim ----------------------------------------------------

def _invalid_link():
    return render_template("registration/waitlist_invalid.html"), 404


def _claim_input() -> tuple[dict[str, object], list[dict[str, str]], dict[str, object]]:
    """(answers, attendees, what she typed) from the claim form."""
    answers: dict[str, object] = {}
    typed: dict[str, object] = {}
    people: dict[int, dict[str, str]] = {}
    for key, vals in request.form.lists():
        if key.startswith("question-"):
            answers[key[len("question-"):]] = vals if len(vals) > 1 else vals[0]
            typed[key] = vals
        elif key == "consent":
            typed[key] = vals[0]
        elif m := _ATTENDEE_KEY.match(key):
            people.setdefault(int(m.group(1)), {})[m.group(2)] = vals[0]
            typed[key] = vals[0]
    attendees = [people.get(i, {}) for i in range(1, max(people, default=0) + 1)]
    return answers, attendees, typed


def _render_entry(token: str, *, values: dict | None = None, errors: dict | None = None, status: int = 200):
    try:
        page = waitlist.entry_page(token, utcnow())
    except WaitlistLinkError:
        return _invalid_link()
    tt = page.offered_type
    return render_template(
        "registration/waitlist_entry.html", page=page, event=page.event, entry=page.entry,
        when=format_range(page.event),
        expires=format_moment(page.offer_expires_at, page.event.timezone) if page.offer_expires_at else None,
        price=price_label(tt) if tt else None, values=values or {}, errors=errors or {},
        payments_available=_start_payment() is not None,
        extra_tickets=range(1, page.entry.quantity),
    ), status


@bp.get("/waitlist/<token>")
def show(token: str):
    return _render_entry(token)


def _start_payment():
    """The payment issue's hook (`registration.views.start_payment`: order -> Checkout URL), or None."""
    from eventsite.registration import views as registration_views

    return getattr(registration_views, "start_payment", None)


@bp.post("/waitlist/<token>/claim")
def claim(token: str):
    answers, attendees, typed = _claim_input()
    start_payment = _start_payment()
    try:
        order = run_in_transaction(lambda: waitlist_offers.claim_offer(
            token, answers=answers, attendees=attendees, allow_paid=start_payment is not None,
            terms_accepted=request.form.get("consent") in ("y", "on", "1", "true")))
    except WaitlistLinkError:
        return _invalid_link()
    except ValidationError as e:
        return _render_entry(token, values=typed, errors=e.errors, status=422)
    except DomainError as e:
        return _render_entry(token, values=typed, errors={e.field or "__all__": e.message}, status=e.status)
    if order.status == OrderStatus.PENDING_PAYMENT and start_payment is not None:
        return redirect(start_payment(order), 303)
    flash(f"You claimed your place. Your ticket{'s are' if len(order.tickets) > 1 else ' is'} on the way to "
          f"{order.buyer_email}; this page is yours, keep its link.", "success")
    return redirect(f"/tickets/{order.token}", 303)


@bp.route("/waitlist/<token>/leave", methods=["GET", "POST"])
def leave(token: str):
    if request.method == "POST":
        try:
            run_in_transaction(lambda: waitlist_offers.leave_waitlist(token))
        except WaitlistLinkError:
            return _invalid_link()
        return redirect(url_for("waitlist.show", token=token), 303)
    try:
        page = waitlist.entry_page(token, utcnow())
    except WaitlistLinkError:
        return _invalid_link()
    return render_template("registration/waitlist_leave.html", page=page, event=page.event, entry=page.entry)


bp.add_app_template_global(waitlist_form_for, "waitlist_form_for")
