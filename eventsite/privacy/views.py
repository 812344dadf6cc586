"""Personal data pages: her download (`/tickets/<token>/data.json`, linked from her ticket page) and
the organizer's erasure of an attendee (`/organizer/events/<slug>/orders/<code>/erase`, a POST that
must repeat the order code). Thin views: one service call each, committed by `run_in_transaction`.

Hooks filled here: `registration.ticket_views.ticket_page_sections` (the "Your data" card on her
ticket page), `registration.manage_views.order_page_context` (`erase_url` on the organizer's order
page), and the worker task `privacy.purge_expired_profiles`.
"""
from __future__ import annotations

import json

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
from flask_login import current_user, login_required
from markupsafe import Markup

from eventsite.connections.profiles import profile_for_order
from eventsite.core.db import run_in_transaction, utcnow
from eventsite.core.errors import DomainError
from eventsite.core.tasks import register_task
from eventsite.core.web import private
from eventsite.events.access import event_for
from eventsite.events.manage_views import EVENT_TABS
from eventsite.privacy import services
from eventsite.registration import manage_views as registration_manage
from eventsite.registration import reports
from eventsite.registration import ticket_views as registration_ticket_views
from eventsite.registration.models import Order
from eventsite.registration.services import order_by_token

bp = Blueprint("privacy", __name__, template_folder="templates")


# --- her download ----------------------------------------------------------------------------------

@bp.get("/tickets/<token>/data.json")
@private
def download(token: str):
    order = order_by_token(token)
    if order is None:
        abort(404)
    data = services.export_for_order(order, now=utcnow())
    return current_app.response_class(
        json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="my-data-{order.event.slug}.json"'})


def ticket_page_card(order: Order):
    """The "Your data" card of her ticket page."""
    return Markup(render_template("privacy/_ticket_card.html", order=order,
                                  has_profile=profile_for_order(order) is not None))


if ticket_page_card not in registration_ticket_views.ticket_page_sections:
    registration_ticket_views.ticket_page_sections.append(ticket_page_card)


# --- the organizer's erasure -----------------------------------------------------------------------

def _order(slug: str, code: str):
    event = event_for(current_user, slug)  # organizers and owners; door staff 403, outsiders 404
    order = reports.order_by_code(event, code) if len(code) <= 16 else None
    if order is None:
        abort(404)
    return event, order


@bp.route("/organizer/events/<slug>/orders/<code>/erase", methods=["GET", "POST"])
@login_required
def erase(slug: str, code: str):
    event, order = _order(slug, code)
    if services.is_erased(order):
        return render_template("privacy/erase.html", event=event, order=order, erased=True, event_tabs=EVENT_TABS)
    error, status = None, 200
    if request.method == "POST":
        if (request.form.get("confirm") or "").strip().upper() != order.code:
            error, status = f"Type the order code {order.code} to confirm.", 422
        else:
            actor = current_user._get_current_object()
            try:
                result = run_in_transaction(lambda: services.erase_order(order, actor=actor))
            except DomainError as e:
                error, status = e.message, e.status
            else:
                flash(f"Order {order.code} is erased: {result.tickets} ticket(s) kept as anonymous counts, "
                      f"{result.profiles} networking profile(s) and {result.emails} email(s) deleted.", "success")
                return redirect(url_for("manage_registration.order", slug=event.slug, code=order.code), 303)
    return render_template("privacy/erase.html", event=event, order=order, erased=False, error=error,
                           event_tabs=EVENT_TABS), status


def order_page_erase_link(order: Order) -> dict:
    if services.is_erased(order):
        return {"erased": True}
    return {"erase_url": url_for("privacy.erase", slug=order.event.slug, code=order.code)}


if order_page_erase_link not in registration_manage.order_page_context:
    registration_manage.order_page_context.append(order_page_erase_link)


register_task("privacy.purge_expired_profiles", lambda now: services.purge_expired_profiles(now))
