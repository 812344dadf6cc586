"""The organizer's Follow-up tab: the plan (steps, days, audience, tag list), a preview of each
step's email, and the outcome in numbers.

Owners and organizers only (`access.event_for`: 404 outside the organization, 403 for door staff).
A preview is rendered for a made-up attendee and never sent; its HTML is served from its own route
with a strict CSP of its own (no scripts, no outside requests, sandboxed) and shown in an
`<iframe sandbox>`, like the dev mailbox.
"""
from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from eventsite.connections import emails, event_settings, reports
from eventsite.connections.forms import plan_form
from eventsite.connections.models import STEPS, Step
from eventsite.core.db import run_in_transaction, utcnow
from eventsite.core.errors import ValidationError
from eventsite.events.access import event_for
from eventsite.events.manage_views import EVENT_TABS, add_event_tab

bp = Blueprint("manage_connections", __name__, url_prefix="/organizer", template_folder="templates")

add_event_tab("Follow-up", "manage_connections.index", also=("manage_connections.preview",))

PREVIEW_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; "
    "frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
)


@bp.before_request
@login_required
def _require_login():
    """Every organizer page needs a login."""


@bp.context_processor
def _tabs():
    return {"event_tabs": EVENT_TABS}


def _page(event, form, status: int = 200):
    settings = event_settings.settings_for(event)
    return render_template(
        "connections_manage/index.html", event=event, form=form, settings=settings,
        steps=reports.step_rows(event, settings, utcnow()), figures=reports.outcome_figures(event),
    ), status


@bp.route("/events/<slug>/follow-up", methods=["GET", "POST"])
def index(slug: str):
    event = event_for(current_user, slug)
    if request.method == "GET":
        return _page(event, plan_form(event_settings.settings_for(event)))
    form = plan_form(None, formdata=request.form)
    arguments = form.for_service()
    actor = current_user._get_current_object()
    try:
        run_in_transaction(lambda: event_settings.update_settings(event, **arguments, actor=actor))
    except ValidationError as e:
        form.apply_errors(e.errors)
        return _page(event, form, e.status)
    flash("The follow-up plan is saved.", "success")
    return redirect(url_for(".index", slug=slug), 303)


def _step_or_404(step: str) -> Step:
    if step not in {s.value for s in STEPS}:
        abort(404)
    return Step(step)


@bp.get("/events/<slug>/follow-up/preview/<step>")
def preview(slug: str, step: str):
    event = event_for(current_user, slug)
    chosen = _step_or_404(step)
    email = emails.sample_followup(event, chosen, event_settings.settings_for(event).tags)
    return render_template("connections_manage/preview.html", event=event, step=chosen, email=email)


@bp.get("/events/<slug>/follow-up/preview/<step>/html")
def preview_html(slug: str, step: str):
    event = event_for(current_user, slug)
    email = emails.sample_followup(event, _step_or_404(step), event_settings.settings_for(event).tags)
    response = Response(email.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
