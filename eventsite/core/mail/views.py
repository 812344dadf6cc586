"""The dev mailbox at /dev/mailbox/: messages the dev:// backend delivered (development only).

The factory registers this blueprint only when EVENTSITE_ENV is not production. A message's HTML
part is served from its own route with a strict CSP of its own (no scripts, no outside requests,
sandboxed) and shown in an <iframe sandbox>; its cid: images point at the route that serves parts.
"""
from __future__ import annotations

from io import BytesIO
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)

from eventsite.core.mail import devmailbox
from eventsite.core.mail.backends import dev_mailbox_directory, redact

bp = Blueprint("mailbox", __name__, url_prefix="/dev/mailbox", template_folder="templates")

HTML_PART_CSP = "; ".join(
    [
        "default-src 'none'",
        "img-src data: cid: 'self'",
        "style-src 'unsafe-inline'",
        "form-action 'none'",
        "frame-ancestors 'self'",
        "sandbox allow-popups allow-popups-to-escape-sandbox",
    ]
)


def _directory() -> Path:
    return dev_mailbox_directory(current_app.instance_path)


def _message_or_404(name: str):
    msg = devmailbox.read_message(_directory(), name)
    if msg is None:
        abort(404)
    return msg


@bp.get("/")
def index():
    entries, total = devmailbox.list_messages(_directory())
    return render_template(
        "mail/index.html",
        entries=entries,
        total=total,
        waiting=devmailbox.outbox_waiting(),
        mail_url=redact(current_app.config.get("EVENTSITE_MAIL_URL") or ""),
    )


@bp.get("/<name>")
def message(name: str):
    msg = _message_or_404(name)
    return render_template(
        "mail/message.html",
        name=name,
        msg=msg,
        date=devmailbox.message_date(msg),
        text=devmailbox.text_body(msg),
        has_html=msg.get_body(preferencelist=("html",)) is not None,
        parts=devmailbox.attachments(msg),
    )


@bp.get("/<name>/html")
def html(name: str):
    msg = _message_or_404(name)
    body = devmailbox.html_body(msg, lambda cid: url_for("mailbox.inline", name=name, cid=cid))
    if body is None:
        abort(404)
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = HTML_PART_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/<name>/cid/<path:cid>")
def inline(name: str, cid: str):
    part = devmailbox.part_by_cid(_message_or_404(name), cid)
    if part is None:
        abort(404)
    content_type = part.get_content_type()
    # Only plain images are shown in place; anything else (SVG included) is a download.
    shown = content_type.startswith("image/") and content_type != "image/svg+xml"
    return send_file(
        BytesIO(part.get_payload(decode=True) or b""),
        mimetype=content_type if shown else "application/octet-stream",
        as_attachment=not shown,
        download_name=part.get_filename() or "inline",
    )


@bp.get("/<name>/parts/<int:index>")
def part(name: str, index: int):
    found = devmailbox.part_by_index(_message_or_404(name), index)
    if found is None or found.is_multipart():
        abort(404)
    return send_file(
        BytesIO(found.get_payload(decode=True) or b""),
        mimetype=found.get_content_type(),
        as_attachment=True,
        download_name=found.get_filename() or f"part-{index}",
    )


@bp.get("/<name>/raw")
def raw(name: str):
    data = devmailbox.raw_message(_directory(), name)
    if data is None:
        abort(404)
    return send_file(BytesIO(data), mimetype="message/rfc822", as_attachment=True, download_name=f"{name}.eml")


@bp.post("/clear")
def clear():
    removed = devmailbox.clear_mailbox(_directory())
    flash(f"Mailbox cleared ({removed} message{'s' if removed != 1 else ''} removed).", "success")
    return redirect(url_for("mailbox.index"))
