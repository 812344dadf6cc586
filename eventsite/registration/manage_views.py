"""Organizer pages for an event's registrations: the list, an order, cancel and resend, complimentary
tickets, the CSV export and the chart.

Owners and organizers only: `access.event_for` answers 404 to people outside the event's organization
(and to door staff not assigned to it) and 403 to door staff assigned to it. Reads come from
`reports.py`; every change is ONE service of `services.py` or `cancellation.py` run through
`run_in_transaction` (which commits once and, on SQLite, takes the writer lock first). A refusal of
the service (`DomainError`) becomes a message, never a 500.

Hook: `order_page_context`, callbacks fn(order) -> extra context for the order page. The payments
domain adds `payment` (see `order.html`): the payment's state, amount and Stripe ids, its refunds,
and the link to refund (or retry a failed refund).
"""
from __future__ import annotations

from collections.abc import Callable

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from eventsite.core.db import run_in_transaction
from eventsite.core.errors import DomainError, ValidationError
from eventsite.core.forms import NumberRange  # not WTForms' own: survives 10**400
from eventsite.events.access import event_for
from eventsite.events.manage_views import EVENT_TABS, add_event_tab
from eventsite.events.models import Event
from eventsite.registration import cancellation, export, reports, services
from eventsite.registration import chart as day_chart
from eventsite.registration.answers import answer_lines
from eventsite.registration.models import Order, OrderSource, Ticket

bp = Blueprint("manage_registration", __name__, url_prefix="/organizer", template_folder="templates")

order_page_context: list[Callable[[Order], dict]] = []

add_event_tab("Registrations", "manage_registration.index", also=(
    "manage_registration.order", "manage_registration.cancel_order", "manage_registration.cancel_ticket",
    "manage_registration.complimentary", "manage_registration.chart",
))


@bp.before_request
@login_required
def _require_login():
    """Every organizer page needs a login (Flask-Login's redirect or 401 otherwise)."""


@bp.context_processor
def _tabs():
    return {"event_tabs": EVENT_TABS}


def _actor():
    return current_user._get_current_object()


def _order(event: Event, code: str) -> Order:
    order = reports.order_by_code(event, code)
    if order is None:
        abort(404)
    return order


def _ticket(order: Order, ticket_id: int) -> Ticket:
    ticket = next((t for t in order.tickets if t.id == ticket_id), None)
    if ticket is None:
        abort(404)
    return ticket


def _run(work, success: str) -> bool:
    """Run one service in its own transaction; flash what happened or why it was refused."""
    try:
        run_in_transaction(work)
    except DomainError as e:
        flash(e.message, "error")
        return False
    flash(success, "success")
    return True


# --- the list, the export and the chart ---------------------------------------------------------

@bp.get("/events/<slug>/registrations")
def index(slug: str):
    event = event_for(current_user, slug)
    errors: dict[str, str] = {}
    try:
        filters, page = reports.parse_filters(event, request.args)
    except ValidationError as e:
        errors, filters, page = e.errors, reports.RegistrationFilters(), 1
    lines, total = reports.counts_by_type(event)
    result = None if errors else reports.registrations_page(event, filters, page)
    return render_template(
        "registration_manage/index.html", event=event, filters=filters, result=result, errors=errors,
        type_counts=lines, total_counts=total, statuses=reports.STATUSES, args=request.args,
    ), (400 if errors else 200)


@bp.get("/events/<slug>/registrations.csv")
def export_csv(slug: str):
    event = event_for(current_user, slug)
    try:
        filters, _ = reports.parse_filters(event, request.args)
    except ValidationError as e:
        abort(400, e.message)
    response = Response(stream_with_context(export.export_csv(event, filters)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{export.csv_filename(event)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/events/<slug>/registrations/chart")
def chart(slug: str):
    event = event_for(current_user, slug)
    days = day_chart.registrations_per_day(event)
    return render_template("registration_manage/chart.html", event=event,
                           layout=day_chart.chart_layout(days) if days else None)


# --- one order ----------------------------------------------------------------------------------

@bp.get("/events/<slug>/orders/<code>")
def order(slug: str, code: str):
    event = event_for(current_user, slug)
    order = _order(event, code)
    extra: dict = {}
    for callback in order_page_context:
        extra.update(callback(order))
    return render_template("registration_manage/order.html", event=event, order=order,
                           answers=answer_lines(event, order.answers), **extra)


@bp.route("/events/<slug>/orders/<code>/cancel", methods=["GET", "POST"])
def cancel_order(slug: str, code: str):
    """GET asks to confirm; the POST cancels every ticket of the order and emails the buyer."""
    event = event_for(current_user, slug)
    order = _order(event, code)
    if request.method == "POST":
        if not order.is_live:
            flash(f"Order {order.code} was already cancelled.", "warning")
        else:
            _run(lambda: cancellation.cancel_order(order, actor=_actor()),
                 f"Order {order.code} is cancelled; {order.buyer_email} has been told by email.")
        return redirect(url_for(".order", slug=slug, code=code.upper()))
    return render_template("registration_manage/cancel.html", event=event, order=order, ticket=None)


@bp.route("/events/<slug>/orders/<code>/tickets/<int:ticket_id>/cancel", methods=["GET", "POST"])
def cancel_ticket(slug: str, code: str, ticket_id: int):
    event = event_for(current_user, slug)
    order = _order(event, code)
    ticket = _ticket(order, ticket_id)
    if request.method == "POST":
        name = ticket.attendee_name
        if not (ticket.is_valid and order.is_live):
            flash(f"{name}’s ticket was already cancelled.", "warning")
            return redirect(url_for(".order", slug=slug, code=code.upper()))
        _run(lambda: cancellation.cancel_ticket(ticket, actor=_actor()),
             f"{name}’s ticket is cancelled; {order.buyer_email} has been told by email.")
        return redirect(url_for(".order", slug=slug, code=code.upper()))
    return render_template("registration_manage/cancel.html", event=event, order=order, ticket=ticket)


@bp.post("/events/<slug>/orders/<code>/resend")
def resend(slug: str, code: str):
    event = event_for(current_user, slug)
    order = _order(event, code)
    _run(lambda: services.resend_confirmation(order, actor=_actor()),
         f"The confirmation is on its way to {order.buyer_email} again.")
    return redirect(url_for(".order", slug=slug, code=code.upper()))


# --- complimentary tickets ----------------------------------------------------------------------

class ComplimentaryForm(FlaskForm):
    """A guest of the organizer: free whatever the price, counted against capacity, not revenue."""

    name = StringField("Guest’s name", [InputRequired("Enter the guest’s name."), Length(max=200)])
    email = EmailField("Guest’s email", [InputRequired("Enter the guest’s email address."), Length(max=254)],
                       description="The confirmation with the tickets and QR codes is sent here.")
    ticket_type = SelectField("Ticket type", coerce=int, validate_choice=True)
    quantity = IntegerField("Number of tickets", [InputRequired("Enter how many tickets."),
                                                  NumberRange(1, 100, "Choose from 1 to 100 tickets.")], default=1)
    attendees = TextAreaField(
        "Names on the other tickets", [Length(max=20_000)],
        description="For more than one ticket: one line per extra ticket, a name and optionally a comma "
                    "and an email address (e.g. “Maya Chen, maya@example.org”). Lines left out take the "
                    "guest’s name.")

    def __init__(self, event: Event, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ticket_type.choices = [
            (tt.id, f"{tt.name} ({tt.sold}/{tt.capacity} taken{', hidden' if tt.hidden else ''})")
            for tt in event.ticket_types
        ]

    def extra_attendees(self) -> list[dict]:
        people = []
        for line in (self.attendees.data or "").splitlines():
            if not line.strip():
                continue
            name, sep, email = line.rpartition(",")
            if not sep or "@" not in email:
                name, email = line, ""
            people.append({"name": name.strip(), "email": email.strip()})
        return people

    def service_args(self) -> dict:
        people = self.extra_attendees()
        extra = self.quantity.data - 1
        people += [{"name": self.name.data, "email": ""}] * max(extra - len(people), 0)
        return {"buyer_name": self.name.data, "buyer_email": self.email.data,
                "quantities": {self.ticket_type.data: self.quantity.data}, "attendees": people,
                "source": OrderSource.COMPLIMENTARY}

    def reject(self, errors: dict[str, str]) -> None:
        """Put a service's ValidationError (its field names) next to this form's fields."""
        for key, message in errors.items():
            if key in ("name", "email"):
                target = self[key]
            elif key == "quantity" or key.startswith("quantity-"):
                target = self.quantity
            elif key.startswith("attendee-"):
                target, message = self.attendees, f"Line {key.split('-')[1]}: {message}"
            else:
                self.form_errors.append(message)
                continue
            target.errors = [*target.errors, message]


@bp.route("/events/<slug>/complimentary", methods=["GET", "POST"])
def complimentary(slug: str):
    event = event_for(current_user, slug)
    form = ComplimentaryForm(event)
    if form.validate_on_submit():
        try:
            order = run_in_transaction(lambda: services.register_attendees(event, **form.service_args()))
        except ValidationError as e:
            form.reject(e.errors)
        except DomainError as e:
            form.reject({e.field or "__all__": e.message})
        else:
            n = len(order.tickets)
            flash(f"{n} complimentary ticket{'s' if n != 1 else ''} for {order.buyer_name} added; "
                  f"the confirmation is on its way to {order.buyer_email}.", "success")
            return redirect(url_for(".order", slug=slug, code=order.code))
    return render_template("registration_manage/complimentary.html", event=event, form=form), (
        422 if form.errors else 200)
