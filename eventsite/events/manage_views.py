"""Organizer pages: the dashboard, the event editor, ticket types and questions.

Every page needs a login; `access.event_for` answers 404 to people outside the event's
organization and 403 to members whose role is not enough (check-in staff never reach the editor).
Each view validates its form, calls one service from `events/services.py`, commits, and redirects.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from eventsite.accounts.models import Organization
from eventsite.core.db import utcnow
from eventsite.core.errors import DomainError, ValidationError
from eventsite.events import services, validation
from eventsite.events.access import MANAGERS, event_for, visible_events_query
from eventsite.events.forms import EventForm, QuestionForm, TicketTypeForm
from eventsite.events.models import Event, Question, TicketType
from eventsite.events.uploads import delete_upload
from eventsite.extensions import db

bp = Blueprint("manage_events", __name__, url_prefix="/organizer", template_folder="templates")


@bp.before_request
@login_required
def _require_login():
    """Every organizer page needs a login (Flask-Login's redirect or 401 otherwise)."""


# --- the event's tabs: later domains add theirs with add_event_tab() ----------------------------

@dataclass(frozen=True)
class Tab:
    label: str
    endpoint: str  # takes `slug`
    also: tuple[str, ...] = ()  # other endpoints under this tab (for aria-current)

    def is_current(self, endpoint: str | None) -> bool:
        return endpoint == self.endpoint or endpoint in self.also


EVENT_TABS: list[Tab] = [
    Tab("Overview", "manage_events.event", ("manage_events.cancel",)),
    Tab("Edit", "manage_events.edit_event"),
    Tab("Tickets", "manage_events.ticket_types", ("manage_events.new_ticket_type", "manage_events.edit_ticket_type")),
    Tab("Questions", "manage_events.questions", ("manage_events.new_question", "manage_events.edit_question")),
]


def add_event_tab(label: str, endpoint: str, *, also: tuple[str, ...] = ()) -> None:
    """E.g. add_event_tab("Registrations", "manage_registration.index"), called from a blueprint module."""
    if all(tab.endpoint != endpoint for tab in EVENT_TABS):
        EVENT_TABS.append(Tab(label, endpoint, also))


@bp.context_processor
def _tabs():
    return {"event_tabs": EVENT_TABS}


# --- helpers ------------------------------------------------------------------------------------

def _actor():
    """The signed-in user herself (not Flask-Login's proxy): services may store or compare her."""
    return current_user._get_current_object()


def _managed_organizations() -> list[Organization]:
    return sorted((m.organization for m in current_user.memberships if m.role in MANAGERS), key=lambda o: o.name)


def _ticket_totals(events: list[Event]) -> dict[int, tuple[int, int]]:
    """event id -> (tickets sold, capacity): the event's own cap, else the sum over its ticket types."""
    ids = [e.id for e in events]
    if not ids:
        return {}
    rows = db.session.execute(
        select(TicketType.event_id, func.sum(TicketType.sold), func.sum(TicketType.capacity))
        .where(TicketType.event_id.in_(ids))
        .group_by(TicketType.event_id)
    ).all()
    sums = {event_id: (int(sold or 0), int(capacity or 0)) for event_id, sold, capacity in rows}
    totals = {}
    for e in events:
        sold, capacity = sums.get(e.id, (0, 0))
        totals[e.id] = (sold, e.capacity if e.capacity is not None else capacity)
    return totals


def _ticket_type(event: Event, ticket_type_id: int) -> TicketType:
    tt = db.session.get(TicketType, ticket_type_id)
    if tt is None or tt.event_id != event.id:
        abort(404)
    return tt


def _question(event: Event, question_id: int) -> Question:
    q = db.session.get(Question, question_id)
    if q is None or q.event_id != event.id:
        abort(404)
    return q


def _offset() -> int:
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        abort(400, "Say which way to move it: up or down.")
    return -1 if direction == "up" else 1


def _act(action, target, success: str, **kwargs) -> bool:
    """Run a one-click service (publish, hide, move, delete...), commit, and flash what happened."""
    try:
        action(target, actor=_actor(), **kwargs)
        db.session.commit()
    except DomainError as e:
        db.session.rollback()
        flash(e.message, "error")
        return False
    if success:
        flash(success, "success")
    return True


def _form_page(template: str, form, **context):
    """A form page; answers 422 when it shows errors, so bad input is a 4xx even to a browser."""
    return render_template(template, form=form, **context), (422 if form.errors else 200)


def _flash_notes(form) -> None:
    for note in form.notes:
        flash(note, "warning")


# --- dashboard ----------------------------------------------------------------------------------

@bp.get("/")
def dashboard():
    events = list(db.session.scalars(visible_events_query(current_user).order_by(Event.starts_at, Event.id)))
    now = utcnow()
    managed = {m.organization_id for m in current_user.memberships if m.role in MANAGERS}
    return render_template(
        "events_manage/dashboard.html",
        upcoming=[e for e in events if e.ends_at > now],
        past=[e for e in reversed(events) if e.ends_at <= now],
        totals=_ticket_totals(events),
        managed_org_ids=managed,
        can_create=bool(managed),
    )


# --- events -------------------------------------------------------------------------------------

@bp.route("/events/new", methods=["GET", "POST"])
def new_event():
    organizations = _managed_organizations()
    if not organizations:
        abort(403)
    form = EventForm(organizations=organizations)
    if form.validate_on_submit():
        try:
            event = services.create_event(form.chosen_organization_id(), form.service_data(), actor=_actor())
            db.session.commit()
        except ValidationError as e:
            db.session.rollback()
            form.reject(e.errors)
        else:
            _flash_notes(form)
            flash("Event created as a draft. Add ticket types, then publish it.", "success")
            return redirect(url_for(".event", slug=event.slug))
    return _form_page("events_manage/event_form.html", form, event=None, timezones=_zone_names())


@bp.route("/events/<slug>/edit", methods=["GET", "POST"])
def edit_event(slug: str):
    event = event_for(current_user, slug)
    form = EventForm(event=event)
    previous_cover = event.cover_image
    if form.validate_on_submit():
        try:
            services.update_event(event, form.service_data(), actor=_actor())
            db.session.commit()
        except ValidationError as e:
            db.session.rollback()
            form.reject(e.errors)
        else:
            if event.cover_image != previous_cover:
                delete_upload(previous_cover)  # only once the change is committed
            _flash_notes(form)
            flash("Changes saved.", "success")
            return redirect(url_for(".event", slug=event.slug))
    return _form_page("events_manage/event_form.html", form, event=event, timezones=_zone_names())


def _zone_names() -> list[str]:
    return sorted(validation.timezones())


@bp.get("/events/<slug>")
def event(slug: str):
    event = event_for(current_user, slug)
    return render_template(
        "events_manage/event.html", event=event, totals=_ticket_totals([event])[event.id], now=utcnow()
    )


@bp.post("/events/<slug>/publish")
def publish(slug: str):
    event = event_for(current_user, slug)
    _act(services.publish_event, event, "Published: the event is now on the public site.")
    return redirect(url_for(".event", slug=slug))


@bp.post("/events/<slug>/unpublish")
def unpublish(slug: str):
    event = event_for(current_user, slug)
    _act(services.unpublish_event, event, "Back to draft: the event is no longer public.")
    return redirect(url_for(".event", slug=slug))


@bp.route("/events/<slug>/cancel", methods=["GET", "POST"])
def cancel(slug: str):
    """GET explains what cancelling does and asks to confirm; the POST does it."""
    event = event_for(current_user, slug)
    if request.method == "POST":
        _act(services.cancel_event, event, "The event is cancelled.")
        return redirect(url_for(".event", slug=slug))
    return render_template("events_manage/cancel.html", event=event, totals=_ticket_totals([event])[event.id])


# --- ticket types -------------------------------------------------------------------------------

@bp.get("/events/<slug>/tickets")
def ticket_types(slug: str):
    event = event_for(current_user, slug)
    return render_template("events_manage/ticket_types.html", event=event)


@bp.route("/events/<slug>/tickets/new", methods=["GET", "POST"])
def new_ticket_type(slug: str):
    event = event_for(current_user, slug)
    form = TicketTypeForm(event=event)
    if form.validate_on_submit():
        try:
            tt = services.add_ticket_type(event, form.service_data(), actor=_actor())
            db.session.commit()
        except ValidationError as e:
            db.session.rollback()
            form.apply_errors(e.errors)
        else:
            _flash_notes(form)
            flash(f"Ticket type “{tt.name}” added.", "success")
            return redirect(url_for(".ticket_types", slug=slug))
    return _form_page("events_manage/ticket_type_form.html", form, event=event, ticket_type=None)


@bp.route("/events/<slug>/tickets/<int:ticket_type_id>/edit", methods=["GET", "POST"])
def edit_ticket_type(slug: str, ticket_type_id: int):
    event = event_for(current_user, slug)
    tt = _ticket_type(event, ticket_type_id)
    form = TicketTypeForm(event=event, ticket_type=tt)
    if form.validate_on_submit():
        try:
            services.update_ticket_type(tt, form.service_data(), actor=_actor())
            db.session.commit()
        except ValidationError as e:
            db.session.rollback()
            form.apply_errors(e.errors)
        else:
            _flash_notes(form)
            flash(f"Ticket type “{tt.name}” saved.", "success")
            return redirect(url_for(".ticket_types", slug=slug))
    return _form_page("events_manage/ticket_type_form.html", form, event=event, ticket_type=tt)


@bp.post("/events/<slug>/tickets/<int:ticket_type_id>/visibility")
def ticket_type_visibility(slug: str, ticket_type_id: int):
    event = event_for(current_user, slug)
    tt = _ticket_type(event, ticket_type_id)
    hidden = request.form.get("hidden") == "1"
    message = f"“{tt.name}” is hidden from the public page." if hidden else f"“{tt.name}” is shown on the public page."
    _act(services.update_ticket_type, tt, message, changes={"hidden": hidden})
    return redirect(url_for(".ticket_types", slug=slug))


@bp.post("/events/<slug>/tickets/<int:ticket_type_id>/move")
def move_ticket_type(slug: str, ticket_type_id: int):
    event = event_for(current_user, slug)
    _act(services.move_ticket_type, _ticket_type(event, ticket_type_id), "", offset=_offset())
    return redirect(url_for(".ticket_types", slug=slug))


@bp.post("/events/<slug>/tickets/<int:ticket_type_id>/delete")
def delete_ticket_type(slug: str, ticket_type_id: int):
    event = event_for(current_user, slug)
    tt = _ticket_type(event, ticket_type_id)
    _act(services.delete_ticket_type, tt, f"Ticket type “{tt.name}” deleted.")
    return redirect(url_for(".ticket_types", slug=slug))


# --- questions ----------------------------------------------------------------------------------

@bp.get("/events/<slug>/questions")
def questions(slug: str):
    event = event_for(current_user, slug)
    return render_template("events_manage/questions.html", event=event)


@bp.route("/events/<slug>/questions/new", methods=["GET", "POST"])
def new_question(slug: str):
    event = event_for(current_user, slug)
    form = QuestionForm()
    if form.validate_on_submit():
        try:
            services.add_question(event, form.service_data(), actor=_actor())
            db.session.commit()
        except ValidationError as e:
            db.session.rollback()
            form.apply_errors(e.errors)
        else:
            flash("Question added.", "success")
            return redirect(url_for(".questions", slug=slug))
    return _form_page("events_manage/question_form.html", form, event=event, question=None)


@bp.route("/events/<slug>/questions/<int:question_id>/edit", methods=["GET", "POST"])
def edit_question(slug: str, question_id: int):
    event = event_for(current_user, slug)
    question = _question(event, question_id)
    form = QuestionForm(question=question)
    if form.validate_on_submit():
        try:
            services.update_question(question, form.service_data(), actor=_actor())
            db.session.commit()
        except ValidationError as e:
            db.session.rollback()
            form.apply_errors(e.errors)
        else:
            flash("Question saved.", "success")
            return redirect(url_for(".questions", slug=slug))
    return _form_page("events_manage/question_form.html", form, event=event, question=question)


@bp.post("/events/<slug>/questions/<int:question_id>/move")
def move_question(slug: str, question_id: int):
    event = event_for(current_user, slug)
    _act(services.move_question, _question(event, question_id), "", offset=_offset())
    return redirect(url_for(".questions", slug=slug))


@bp.post("/events/<slug>/questions/<int:question_id>/delete")
def delete_question(slug: str, question_id: int):
    event = event_for(current_user, slug)
    _act(services.delete_question, _question(event, question_id), "Question deleted.")
    return redirect(url_for(".questions", slug=slug))
