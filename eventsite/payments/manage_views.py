"""Organizer pages for an event's money: revenue, each paid order's payment state, refunds.

Owners and organizers only (`access.event_for`: 404 outside the organization, 403 for door staff).
The refund is one click on the list, then a confirmation page whose POST runs ONE service
(`refund_order`, which retries a failed refund) in `run_in_transaction`.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from eventsite.core.db import run_in_transaction
from eventsite.core.errors import DomainError
from eventsite.core.text import format_money
from eventsite.events.access import event_for
from eventsite.events.manage_views import EVENT_TABS, add_event_tab
from eventsite.payments import reports, services
from eventsite.payments.models import RefundStatus
from eventsite.registration.reports import order_by_code

bp = Blueprint("manage_payments", __name__, url_prefix="/organizer", template_folder="templates")

add_event_tab("Payments", "manage_payments.index", also=("manage_payments.refund",))


@bp.before_request
@login_required
def _require_login():
    """Every organizer page needs a login."""


@bp.context_processor
def _tabs():
    return {"event_tabs": EVENT_TABS}


def _page() -> int:
    raw = request.args.get("page", "1")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 7) or not 1 <= int(raw) <= 1_000_000:  # "²", 10**5000
        abort(400, "The page number must be a whole number from 1.")
    return int(raw)


def _order_page_payment(order) -> dict:
    """`registration.manage_views.order_page_context`: the payment panel of the organizer's order page:
    state, amount, Stripe ids, refunds with Stripe's message, and the link to refund or retry."""
    row = reports.payment_row(order)
    if row is None:
        return {}
    p = row.payment
    remaining = max(p.amount_cents - p.amount_refunded_cents, 0)
    return {"payment": {
        "state": row.state_label,
        "payment_state": p.status.label,
        "amount_text": format_money(p.amount_cents, p.currency),
        "refunded_text": format_money(p.amount_refunded_cents, p.currency) if p.amount_refunded_cents else None,
        "remaining_text": format_money(remaining, p.currency),
        "paid_at": p.paid_at,
        "test_mode": p.provider == "dev",
        "checkout_session_id": p.checkout_session_id,
        "payment_intent_id": p.payment_intent_id,
        "refunds": [{
            "amount_text": format_money(r.amount_cents, r.currency), "status": r.status.value,
            "reason": r.reason.label, "created_at": r.created_at, "completed_at": r.completed_at,
            "stripe_refund_id": r.stripe_refund_id, "failure_message": r.failure_message,
        } for r in row.refunds],
        "can_refund": row.can_refund,
        "can_retry": row.can_retry,
        "failure": row.last_failure if row.can_retry else None,
        "refund_url": url_for("manage_payments.refund", slug=order.event.slug, code=order.code)
        if row.can_refund or row.can_retry else None,
    }}


def _install_hooks() -> None:
    from eventsite.registration import manage_views as registration_manage_views

    if _order_page_payment not in registration_manage_views.order_page_context:
        registration_manage_views.order_page_context.append(_order_page_payment)


_install_hooks()


@bp.get("/events/<slug>/payments")
def index(slug: str):
    event = event_for(current_user, slug)
    page = _page()
    rows, total = reports.payment_rows(event, page)
    pages = max((total + reports.PER_PAGE - 1) // reports.PER_PAGE, 1)
    return render_template("payments_manage/index.html", event=event, revenue=reports.revenue_by_currency(event),
                           rows=rows, total=total, page=page, pages=pages)


@bp.route("/events/<slug>/payments/<code>/refund", methods=["GET", "POST"])
def refund(slug: str, code: str):
    """GET: what the refund does, and a confirmation button; POST: refund (or retry a failed refund)."""
    event = event_for(current_user, slug)
    order = order_by_code(event, code)
    row = reports.payment_row(order) if order is not None else None
    if row is None:
        abort(404)
    if request.method == "POST":
        actor = current_user._get_current_object()
        try:
            result = run_in_transaction(lambda: services.refund_order(order, actor=actor))
        except DomainError as e:
            flash(e.message, "error")
            return redirect(url_for(".index", slug=slug), 303)
        amount = format_money(result.amount_cents, result.currency)
        if result.status == RefundStatus.SUCCEEDED:
            flash(f"Order {order.code}: {amount} refunded. The buyer gets an email.", "success")
        elif result.status == RefundStatus.FAILED:
            flash(f"Order {order.code}: the refund of {amount} failed: {result.failure_message}", "error")
        else:
            flash(f"Order {order.code}: the refund of {amount} is on its way ({result.failure_message or 'pending'}); "
                  "it is retried automatically.", "warning")
        return redirect(url_for(".index", slug=slug), 303)
    return render_template("payments_manage/refund.html", event=event, row=row, order=order)
