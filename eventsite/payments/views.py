"""Public payment pages: the Stripe webhook, the success and payment pages, her paid cancellation,
and (development only, `payments_dev`) the test payment page that stands in for Stripe Checkout.

Each view calls one service inside `run_in_transaction` (commit once, transient conflicts retried)
and redirects or renders. The success page is the one GET that may write: it asks Stripe whether
the payment went through and fulfils the order if so, which is idempotent and only ever records a
fact Stripe already holds (ARCHITECTURE rule 5: the return page and the webhook share fulfilment).
"""
from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy.exc import OperationalError

from eventsite.core.db import is_retryable_conflict, run_in_transaction, utcnow
from eventsite.core.errors import DomainError
from eventsite.core.security import tokens_equal
from eventsite.core.text import format_money
from eventsite.events.display import event_path
from eventsite.extensions import csrf, db
from eventsite.payments import checkout, dev, holds, policy, providers, services
from eventsite.payments.errors import NotPayableError, PaymentsUnavailableError
from eventsite.payments.models import PaymentStatus, RefundReason
from eventsite.payments.refunds import cancellation_quote
from eventsite.registration.errors import NotCancellableError
from eventsite.registration.models import OrderStatus
from eventsite.registration.services import order_by_token

log = logging.getLogger(__name__)

bp = Blueprint("payments", __name__, template_folder="templates")
dev_bp = Blueprint("payments_dev", __name__, template_folder="templates")


def ticket_path(order) -> str:
    """Her private ticket page (PRODUCT.md: `/tickets/<token>`)."""
    return f"/tickets/{order.token}"


# --- the webhook -------------------------------------------------------------------------------

@bp.post("/stripe/webhook")
@csrf.exempt
def webhook():
    payload = request.get_data()
    signature = request.headers.get("Stripe-Signature")
    try:
        result = run_in_transaction(lambda: services.process_webhook(payload, signature))
    except DomainError as e:  # 400 bad signature (nothing written), 503 not configured
        return jsonify({"error": {"code": e.code, "message": e.message}}), e.status
    except OperationalError as e:  # the database is busy or away: Stripe should try again
        log.warning("Stripe webhook not processed (retryable=%s): %s", is_retryable_conflict(e), e)
        return jsonify({"error": {"code": "busy", "message": "Try again later."}}), 503, {"Retry-After": "30"}
    return jsonify({"received": True, "outcome": result.outcome, "duplicate": result.duplicate})


# --- coming back from Checkout ----------------------------------------------------------------

@bp.get("/payments/success")
def success():
    session_id = request.args.get("session_id", "")
    payment = run_in_transaction(lambda: services.confirm_return(session_id))  # unknown id: 404
    order = payment.order
    if order.status == OrderStatus.CONFIRMED:
        return redirect(ticket_path(order), 303)
    return _status_page(payment, returned=True)


@bp.get("/payments/order/<token>")
def order_page(token: str):
    """Her payment page (Stripe's cancel URL): pay now, give the seats up, or see what happened."""
    payment = services.payment_page(token)
    if payment.order.status == OrderStatus.CONFIRMED:
        return redirect(ticket_path(payment.order), 303)
    return _status_page(payment, returned=False)


def _status_page(payment, *, returned: bool):
    order = payment.order
    now = utcnow()
    payable = (order.status == OrderStatus.PENDING_PAYMENT and order.hold_expires_at is not None
               and order.hold_expires_at > now and not payment.is_paid
               and payment.status != PaymentStatus.PROCESSING)
    late_payment = any(r.reason == RefundReason.LATE_PAYMENT for r in payment.refunds)
    return render_template("payments/status.html", payment=payment, order=order, event=order.event,
                           late_payment=late_payment,
                           payable=payable, waiting=returned and payable, event_url=event_path(order.event),
                           ticket_url=ticket_path(order))


@bp.post("/payments/order/<token>/pay")
def pay(token: str):
    try:
        url = run_in_transaction(lambda: checkout.checkout_url_for_token(token))
    except (NotPayableError, PaymentsUnavailableError) as e:
        flash(e.message, "error")
        return redirect(url_for(".order_page", token=token), 303)
    if url is None:
        flash(checkout.CHECKOUT_FAILED, "error")
        return redirect(url_for(".order_page", token=token), 303)
    return redirect(url, 303)


@bp.post("/payments/order/<token>/release")
def release(token: str):
    payment = run_in_transaction(lambda: holds.release_hold(token))
    if payment.order.status == OrderStatus.CONFIRMED:
        return redirect(ticket_path(payment.order), 303)
    flash("Your seats are released and nothing was charged. You are welcome to register again.", "success")
    return redirect(event_path(payment.order.event), 303)


@bp.get("/payments/for/<token>")
def order_page_for_ticket(token: str):
    """From her ticket page (`/tickets/<token>`) to the payment page of that order."""
    order = order_by_token(token)
    if order is None or order.total_cents <= 0:
        abort(404)
    payment = services.payment_for(order)
    if payment is None:
        abort(404)
    return redirect(url_for(".order_page", token=payment.token), 303)


# --- the registration form's hook --------------------------------------------------------------

def start_payment(order) -> str:
    """`registration.views.start_payment`: where to send her (303) once her paid order is committed.

    Stripe Checkout (or the dev page) normally. If checkout cannot start she lands on her payment page
    with the reason and a "Pay now" button, her seats still held; with no payment provider at all
    (production without a key) her seats are released at once and she is back on the event page.
    """
    try:
        url = run_in_transaction(lambda: checkout.start_checkout(order))
    except PaymentsUnavailableError as e:  # no payment provider at all
        flash(e.message, "error")
        run_in_transaction(lambda: checkout.give_up_unpayable(order))
        return event_path(order.event)
    except NotPayableError as e:
        flash(e.message, "error")
        return ticket_path(order)
    if url is not None:
        return url
    flash(checkout.CHECKOUT_FAILED, "error")
    return url_for("payments.order_page", token=services.payment_for(order).token)


def _refund_policy_context(event) -> dict:
    """The event page's callback: the refund policy, shown when the event sells paid tickets."""
    if any(tt.price_cents > 0 and not tt.hidden for tt in event.ticket_types):
        return {"refund_policy": policy.policy_text(event)}
    return {}


def _ticket_page_payment(order) -> dict:
    """`registration.ticket_views.ticket_page_context`: on the ticket page of a paid order, the link
    to pay (pending), to cancel with the policy's refund (paid and confirmed), and the refund's
    amount."""
    payment = services.payment_for(order)
    if payment is None:
        return {}
    refund = payment.refunds[-1] if payment.refunds else None
    return {"payment": {
        "pay_url": url_for("payments.order_page_for_ticket", token=order.token)
        if order.status == OrderStatus.PENDING_PAYMENT else None,
        "processing": payment.status == PaymentStatus.PROCESSING,
        "cancel_url": url_for("payments.cancel_order", token=order.token)
        if order.status == OrderStatus.CONFIRMED and payment.is_paid else None,
        "refund_text": format_money(refund.amount_cents, refund.currency) if refund is not None else None,
        "late_payment": refund is not None and refund.reason == RefundReason.LATE_PAYMENT,
    }}


def _install_hooks() -> None:
    from eventsite.events import views as event_views
    from eventsite.registration import ticket_views as registration_ticket_views
    from eventsite.registration import views as registration_views

    registration_views.start_payment = start_payment
    if _refund_policy_context not in event_views.event_page_context:
        event_views.event_page_context.append(_refund_policy_context)
    if _ticket_page_payment not in registration_ticket_views.ticket_page_context:
        registration_ticket_views.ticket_page_context.append(_ticket_page_payment)


_install_hooks()


# --- her own cancellation of a paid order ------------------------------------------------------

@bp.route("/payments/tickets/<token>/cancel", methods=["GET", "POST"])
def cancel_order(token: str):
    """GET: what cancelling does now under the event's refund policy; POST: do it."""
    order = order_by_token(token)
    if order is None:
        abort(404)
    payment = services.payment_for(order)
    if payment is None or not payment.is_paid:
        return redirect(ticket_path(order), 303)  # free or unpaid orders are cancelled elsewhere
    if request.method == "POST":
        try:
            refund = run_in_transaction(lambda: services.cancel_paid_order(order))
        except NotCancellableError as e:
            flash(e.message, "error")
            return redirect(url_for(".cancel_order", token=token), 303)
        if refund is None:
            flash("Your registration is cancelled.", "success")
        elif refund.status.value == "failed":
            flash("Your registration is cancelled. The refund could not be sent yet; the organizer sees this "
                  "and will send it.", "warning")
        else:
            flash(f"Your registration is cancelled and {format_money(refund.amount_cents, refund.currency)} "
                  "is on its way back to you.", "success")
        return redirect(ticket_path(order), 303)
    quote = cancellation_quote(order)
    return render_template("payments/cancel.html", order=order, event=order.event, payment=payment, quote=quote,
                           policy=policy.policy_text(order.event), ticket_url=ticket_path(order))


# --- development: the test payment page --------------------------------------------------------

@dev_bp.route("/payments/dev/checkout/<session_id>", methods=["GET", "POST"])
def dev_checkout(session_id: str):
    """"Test payment — no money moves": only in dev mode (no Stripe key, not production), else 404."""
    payment = dev.dev_payment(session_id)
    order = payment.order
    now = utcnow()
    open_ = (order.status == OrderStatus.PENDING_PAYMENT and not payment.is_paid
             and payment.checkout_expires_at is not None and payment.checkout_expires_at > now)
    if request.method == "POST":
        if request.form.get("action") == "cancel" or not open_:
            return redirect(url_for("payments.order_page", token=payment.token), 303)
        payload, header = dev.signed_completion(payment)
        success_url = url_for("payments.success", session_id=payment.checkout_session_id)
        db.session.rollback()  # end this request's read before the webhook's own transaction writes
        status = dev.deliver_to_webhook(payload, header)
        if status != 200:
            flash(f"The test webhook was refused (HTTP {status}); see the server log.", "error")
        return redirect(success_url, 303)
    return render_template("payments/dev_checkout.html", payment=payment, order=order, event=order.event,
                           open_=open_, webhook_secret_source="STRIPE_WEBHOOK_SECRET"
                           if not tokens_equal(providers.webhook_secret() or "", providers.dev_webhook_secret())
                           else "instance/"
                           + providers.DEV_SECRET_FILE)
