"""Public pages of the keep-in-touch domain: what the links in its emails open, and her profile.

Every link opens a page that only reads (mail scanners and link previews follow links); a button on
that page POSTs, and only the POST changes anything. The exception the standard asks for: the RFC 8058
one-click unsubscribe, `POST /u/<token>` with `List-Unsubscribe=One-Click`, which works without a
login and without a CSRF token (mail providers send it), answering 200.

- `/keep-in-touch/introduce/<token>`: "I'd like an introduction" (GET: who and why; POST: ask)
- `/keep-in-touch/accept/<token>`: the person asked says yes
- `/keep-in-touch/feedback/<token>?answer=...`: "did you meet?"
- `/keep-in-touch/preferences/<token>` (+ `/consent`, `/emails`, `/delete`): her preferences
- `/u/<token>`: unsubscribe (GET: a confirmation page; POST: unsubscribe)
- `/tickets/<token>/networking` (+ `/delete`): her profile, from her ticket page

Bad, tampered, expired or replayed links get a clear page with a 4xx and change nothing; a page never
shows a person who does not consent (the services check both sides). Importing this module installs
the hooks into registration (see `hooks.py`).
"""
from __future__ import annotations

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

from eventsite.connections import event_settings, hooks, introductions, profiles
from eventsite.connections.forms import profile_data, profile_form
from eventsite.connections.models import Outcome
from eventsite.core.db import run_in_transaction, utcnow
from eventsite.core.errors import DomainError, ValidationError
from eventsite.core.web import private
from eventsite.extensions import csrf, limiter
from eventsite.registration.services import order_by_token

bp = Blueprint("connections", __name__, template_folder="templates")


def _install_hooks() -> None:
    from eventsite.events import page_cache
    from eventsite.registration import form_builder as registration_form_builder
    from eventsite.registration import ticket_views as registration_ticket_views

    if hooks.settings_fingerprint not in page_cache.event_fingerprints:
        page_cache.event_fingerprints.append(hooks.settings_fingerprint)
    if hooks.networking_section not in registration_form_builder.form_sections:
        registration_form_builder.form_sections.append(hooks.networking_section)
    if hooks.ticket_section not in registration_ticket_views.ticket_page_sections:
        registration_ticket_views.ticket_page_sections.append(hooks.ticket_section)


_install_hooks()


def _introduction_limit() -> str:
    return current_app.config["INTRODUCTION_RATE_LIMIT"]


def _problem(e: DomainError):
    return render_template("connections/link_problem.html", message=e.message, code=e.code), e.status


# --- introductions -------------------------------------------------------------------------------------

@bp.route("/keep-in-touch/introduce/<token>", methods=["GET", "POST"])
@limiter.limit(_introduction_limit, key_func=get_remote_address, methods=["POST"])
@private
def request_introduction(token: str):
    try:
        if request.method == "GET":
            return render_template("connections/request.html", link=introductions.open_request_link(token, now=utcnow()),
                                   token=token, outcome=None)
        outcome, link = run_in_transaction(lambda: introductions.request_by_link(token, now=utcnow()))
    except DomainError as e:
        return _problem(e)
    return render_template("connections/request.html", link=link, token=token, outcome=outcome.value)


@bp.route("/keep-in-touch/accept/<token>", methods=["GET", "POST"])
@limiter.limit(_introduction_limit, key_func=get_remote_address, methods=["POST"])
@private
def accept_introduction(token: str):
    try:
        if request.method == "GET":
            return render_template("connections/accept.html", link=introductions.open_accept_link(token, now=utcnow()),
                                   token=token, outcome=None)
        outcome, link = run_in_transaction(lambda: introductions.accept_by_link(token, now=utcnow()))
    except DomainError as e:
        return _problem(e)
    return render_template("connections/accept.html", link=link, token=token, outcome=outcome.value)


@bp.route("/keep-in-touch/feedback/<token>", methods=["GET", "POST"])
@private
def feedback(token: str):
    try:
        if request.method == "GET":
            link = introductions.open_feedback_link(token, now=utcnow())
            chosen = request.args.get("answer") if request.args.get("answer") in {o.value for o in Outcome} else None
            return render_template("connections/feedback.html", link=link, token=token, chosen=chosen,
                                   outcomes=list(Outcome), saved=None)
        answer = request.form.get("answer")
        saved, link = run_in_transaction(lambda: introductions.feedback_by_link(token, answer, now=utcnow()))
    except ValidationError as e:
        return render_template("connections/link_problem.html", message=next(iter(e.errors.values())),
                               code=e.code), 422
    except DomainError as e:
        return _problem(e)
    return render_template("connections/feedback.html", link=link, token=token, chosen=saved.value,
                           outcomes=list(Outcome), saved=saved)


# --- unsubscribe (RFC 8058) and preferences ---------------------------------------------------------

@bp.route("/u/<token>", methods=["GET", "POST"])
@csrf.exempt
@private
def unsubscribe(token: str):
    """GET: a page with one button. POST (the button, or a mail provider's one-click): unsubscribe."""
    try:
        if request.method == "GET":
            profile = profiles.profile_from_link("unsubscribe", token, now=utcnow())
            return render_template("connections/unsubscribe.html", token=token, profile=profile, done=False)
        run_in_transaction(lambda: profiles.unsubscribe_by_link(token, now=utcnow()))
    except DomainError as e:
        return _problem(e)
    return render_template("connections/unsubscribe.html", token=token, profile=None, done=True), 200


@bp.get("/keep-in-touch/preferences/<token>")
@private
def preferences(token: str):
    try:
        profile = profiles.profile_from_link("preferences", token, now=utcnow())
    except DomainError as e:
        return _problem(e)
    return render_template("connections/preferences.html", profile=profile, event=profile.event, token=token,
                           edit_url=url_for(".profile", token=profile.ticket.order.token))


@bp.post("/keep-in-touch/preferences/<token>/consent")
@private
def set_consent(token: str):
    consent = request.form.get("consent") == "yes"
    try:
        run_in_transaction(lambda: profiles.change_preferences(token, consent=consent, now=utcnow()))
    except DomainError as e:
        return _problem(e)
    flash("You can be suggested to other attendees again." if consent else
          "Done: you are no longer suggested to anyone, and nobody sees your profile.", "success")
    return redirect(url_for(".preferences", token=token), 303)


@bp.post("/keep-in-touch/preferences/<token>/emails")
@private
def set_emails(token: str):
    emails_on = request.form.get("emails") == "on"
    try:
        run_in_transaction(lambda: profiles.change_preferences(token, emails_on=emails_on, now=utcnow()))
    except DomainError as e:
        return _problem(e)
    flash("You will get the follow-up emails again." if emails_on else
          "Done: you will get no more follow-up emails.", "success")
    return redirect(url_for(".preferences", token=token), 303)


@bp.route("/keep-in-touch/preferences/<token>/delete", methods=["GET", "POST"])
@private
def delete_from_preferences(token: str):
    try:
        if request.method == "GET":
            profile = profiles.profile_from_link("preferences", token, now=utcnow())
            return render_template("connections/delete.html", event=profile.event,
                                   action=url_for(".delete_from_preferences", token=token),
                                   back=url_for(".preferences", token=token))
        event = run_in_transaction(lambda: profiles.delete_profile_by_link(token, now=utcnow()))
    except DomainError as e:
        return _problem(e)
    return render_template("connections/deleted.html", event=event)


# --- her profile, from the ticket page -------------------------------------------------------------

def _order_or_404(token: str):
    order = order_by_token(token)
    if order is None:
        abort(404)
    return order


@bp.route("/tickets/<token>/networking", methods=["GET", "POST"])
@private
def profile(token: str):
    order = _order_or_404(token)
    event = order.event
    tags = list(event_settings.settings_for(event).tags or [])
    existing = profiles.profile_for_order(order)
    can_edit = event_settings.networking_open(event) and order.is_live
    if request.method == "GET" or not can_edit:
        form = profile_form(tags, profile=existing)
        return render_template("connections/profile.html", order=order, event=event, form=form, profile=existing,
                               can_edit=can_edit), 200 if request.method == "GET" else 409
    form = profile_form(tags, formdata=request.form)
    data = profile_data(form)
    try:
        run_in_transaction(lambda: profiles.save_profile_for_order(order, data, now=utcnow()))
    except ValidationError as e:
        form.apply_errors(e.errors)
        return render_template("connections/profile.html", order=order, event=event, form=form, profile=existing,
                               can_edit=can_edit), e.status
    except DomainError as e:
        form.form_errors.append(e.message)
        return render_template("connections/profile.html", order=order, event=event, form=form, profile=existing,
                               can_edit=can_edit), e.status
    flash("Your networking profile is saved.", "success")
    return redirect(url_for(".profile", token=token), 303)


@bp.route("/tickets/<token>/networking/delete", methods=["GET", "POST"])
@private
def delete_profile(token: str):
    order = _order_or_404(token)
    if request.method == "GET":
        if profiles.profile_for_order(order) is None:
            return redirect(url_for(".profile", token=token), 303)
        return render_template("connections/delete.html", event=order.event,
                               action=url_for(".delete_profile", token=token), back=url_for(".profile", token=token))
    run_in_transaction(lambda: profiles.delete_profile_for_order(order, now=utcnow()))
    flash("Your networking profile is deleted. Nothing about you is kept for suggestions.", "success")
    return redirect(url_for("registration.ticket", token=token), 303)
