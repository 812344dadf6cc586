"""No secret, token or password in any log line.

One test walks the flows that handle secrets, with every logger captured at DEBUG: an organizer logs
in; an attendee registers for a free and a paid ticket and pays on the dev payment page (a signed
Stripe webhook); the worker sends the emails; door staff check a ticket in; the organizer uses the API
with a token; she forgets her password and resets it by the emailed link; a forged webhook and a
wrong password are refused. Then no captured log line (message, arguments, exception text) contains
any of the passwords, tokens, ticket secrets, signatures or keys that went by.

SQLAlchemy's engine logger is left at INFO (statements are logged, their parameters hidden by the
engine's `hide_parameters`); its DEBUG level would print result rows, which is SQL tracing by design.
"""
from __future__ import annotations

import json
import logging
import re

from sqlalchemy import select

from eventsite.extensions import db
from tests.conftest import csrf_from, login, post_form
from tests.factories import make_event, make_member, make_ticket_type

NEW_PASSWORD = "reset to this passphrase"
RESET_RE = re.compile(r"/organizer/password/reset/([A-Za-z0-9_.\-]+)")


def _deliver(app) -> None:
    from eventsite.core.mail.worker import deliver_due

    with app.app_context():
        deliver_due()
        db.session.remove()


def _log_text_of(record: logging.LogRecord) -> str:
    """Everything of a record a handler could print: message, arguments, exception, extra fields."""
    lines = [record.getMessage(), repr(record.args)]
    if record.exc_info:
        lines.append(logging.Formatter().formatException(record.exc_info))
    lines.extend(repr(v) for k, v in vars(record).items() if k not in logging.LogRecord.__dict__)
    return "\n".join(lines)


# The test's own SMTP server (aiosmtpd) logs the mail it receives: it is the recipient's mail server.
NOT_OURS = ("mail.log",)


def _records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if not r.name.startswith(NOT_OURS)]


def _log_text(caplog) -> str:
    return "\n".join(_log_text_of(r) for r in _records(caplog))


def test_no_secret_reaches_the_logs(app, organizer, mailbox, caplog):
    from eventsite.accounts.models import ApiToken, Role
    from eventsite.payments import providers
    from eventsite.registration.models import Order

    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    try:
        with app.app_context():
            event = make_event(organizer["organization_id"], slug="secret-gala", title="Secret Gala")
            free = make_ticket_type(event, name="Seat", capacity=10).id
            paid = make_ticket_type(event, name="Supporter", price_cents=2000, currency="EUR", capacity=10).id
            make_member(organizer["organization_id"], Role.CHECKIN, "door@example.org", events=[event])
            webhook_secret = providers.webhook_secret()
            db.session.remove()
        secrets: dict[str, str] = {"organizer password": organizer["password"], "new password": NEW_PASSWORD,
                                   "SECRET_KEY": app.config["SECRET_KEY"], "webhook secret": webhook_secret}

        # The organizer logs in (and once with a wrong password); her session cookie is a secret too.
        organizer_client = app.test_client()
        login(organizer_client, organizer["email"])
        secrets["session cookie"] = organizer_client.get_cookie("session").value
        wrong = post_form(app.test_client(), "/organizer/login", {"email": organizer["email"], "password": "wrong-Pa55word"})
        assert wrong.status_code == 401
        secrets["wrong password"] = "wrong-Pa55word"

        # An attendee registers for a free ticket, then for a paid one and pays (signed webhook).
        attendee = app.test_client()
        free_answer = post_form(attendee, "/events/secret-gala/register",
                                {"name": "Ada Attendee", "email": "ada@example.org", f"quantity-{free}": "1"},
                                form_url="/events/secret-gala")
        assert free_answer.status_code == 303
        paid_answer = post_form(attendee, "/events/secret-gala/register",
                                {"name": "Ada Attendee", "email": "ada.paid@example.org", f"quantity-{paid}": "1"},
                                form_url="/events/secret-gala")
        assert paid_answer.status_code == 303 and "/payments/dev/checkout/" in paid_answer.headers["Location"]
        checkout = paid_answer.headers["Location"]
        paid_done = post_form(attendee, checkout, {"action": "pay"})
        assert paid_done.status_code == 303 and "/payments/success" in paid_done.headers["Location"]
        forged = app.test_client().post("/stripe/webhook", data=json.dumps({"id": "evt_forged", "type": "x"}),
                                        headers={"Stripe-Signature": "t=1,v1=" + "ab" * 32},
                                        content_type="application/json")
        assert forged.status_code == 400

        with app.app_context():
            orders = list(db.session.scalars(select(Order)))
            assert {o.status.value for o in orders} == {"confirmed"}
            for o in orders:
                secrets[f"order token {o.code}"] = o.token
                for t in o.tickets:
                    secrets[f"ticket secret {t.id}"] = t.secret
            from eventsite.payments.models import Payment

            for p in db.session.scalars(select(Payment)):
                secrets[f"payment token {p.id}"] = p.token
            db.session.remove()
        _deliver(app)  # confirmations with the ticket links and QR codes

        # Door staff check the free ticket in at the door; the organizer reads the tickets by API.
        door = app.test_client()
        login(door, "door@example.org")
        token = csrf_from(door.get("/organizer/events/secret-gala/checkin").data)
        [free_secret] = [v for k, v in secrets.items() if k.startswith("ticket secret")][:1]
        scanned = door.post("/organizer/events/secret-gala/checkin/scan", json={"code": free_secret, "door": "Main", "request_id": "scan-0001"},
                            headers={"X-CSRFToken": token, "Accept": "application/json"})
        assert scanned.status_code == 200 and scanned.json["result"] == "ok", scanned.get_data(as_text=True)
        created = post_form(organizer_client, "/organizer/settings/tokens", {"token_name": "Sync"},
                            form_url="/organizer/settings")
        api_token = re.search(r"evs_[A-Za-z0-9_\-]+", created.get_data(as_text=True)).group(0)
        secrets["API token"] = api_token
        assert app.test_client().get("/api/v1/events/secret-gala/tickets",
                                     headers={"Authorization": f"Bearer {api_token}"}).status_code == 200
        assert app.test_client().get("/api/v1/events", headers={"Authorization": "Bearer evs_not-a-real-one"}).status_code == 401

        # She forgets her password and resets it by the emailed link.
        mailbox.clear()
        assert post_form(app.test_client(), "/organizer/password/forgot", {"email": organizer["email"]}).status_code == 200
        _deliver(app)
        [mail] = mailbox.to(organizer["email"])
        reset_token = RESET_RE.search(mail.message.get_body(("plain",)).get_content()).group(1)
        secrets["reset token"] = reset_token
        assert post_form(app.test_client(), f"/organizer/password/reset/{reset_token}",
                         {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}).status_code == 303
        login(app.test_client(), organizer["email"], NEW_PASSWORD)
        with app.app_context():
            assert db.session.scalar(select(ApiToken.prefix)) == api_token[:10]
            db.session.remove()
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.NOTSET)

    logged = _log_text(caplog)
    assert len(_records(caplog)) >= 10, "the flows logged (almost) nothing: is capture working?"
    assert any("Stripe" in r.getMessage() for r in _records(caplog))  # the webhooks were logged...
    leaked = {name: value for name, value in secrets.items() if value and value in logged}
    where = [f"{r.name}: {r.getMessage()[:300]}" for r in _records(caplog)
             if any(v in r.getMessage() or v in repr(r.args) or v in _log_text_of(r) for v in leaked.values())]
    assert not leaked, f"secrets in the logs: {sorted(leaked)} in {where[:5]}"  # ...and nothing secret with them
