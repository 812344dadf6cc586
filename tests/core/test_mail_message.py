"""The MIME message built from an outbox row, and header injection attempts."""
from __future__ import annotations

from email import message_from_bytes, policy

from eventsite.core.db import utcnow
from eventsite.core.mail.message import build_message
from eventsite.core.mail.models import OutboxMessage
from eventsite.core.mail.outbox import format_address
from eventsite.extensions import db

SENDER = "eventsite <no-reply@eventsite.test>"


def reparse(msg):
    return message_from_bytes(msg.as_bytes(), policy=policy.default)


def header_lines(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line for line in head.split("\r\n") if not line.startswith((" ", "\t"))]


def test_structure_text_html_inline_image_and_attachment(ctx, rich_email):
    row = rich_email.enqueue(text="Grüße, Dana!\n" + "x" * 1200 + "\n")
    msg, envelope = build_message(row, sender=SENDER)
    parsed = reparse(msg)

    assert envelope.from_addr == "no-reply@eventsite.test" and envelope.to_addrs == ["dana@example.org"]
    assert parsed["Message-ID"] == row.message_id
    assert parsed["List-Unsubscribe"] == "<https://eventsite.test/u/abc>"
    assert parsed["Date"].datetime.timestamp() == int(row.created_at.timestamp())
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, ics = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    text, related = alternative.get_payload()
    assert text.get_content().startswith("Grüße, Dana!")
    assert "x" * 1200 in text.get_content()  # long lines survive (quoted-printable soft breaks)
    assert all(len(line) <= 998 for line in msg.as_bytes().split(b"\r\n"))
    assert related.get_content_type() == "multipart/related"
    html, image = related.get_payload()
    assert 'src="cid:qr-1@eventsite.test"' in html.get_content()
    assert image["Content-ID"] == "<qr-1@eventsite.test>"
    assert image.get_content_type() == "image/png" and image.get_payload(decode=True) == rich_email.png
    assert ics.get_filename() == "event.ics" and ics.get_content_disposition() == "attachment"
    assert ics.get_payload(decode=True) == rich_email.ics


def test_the_same_bytes_on_every_attempt(ctx, rich_email):
    row = rich_email.enqueue()
    first, _ = build_message(row, sender=SENDER)
    second, _ = build_message(row, sender=SENDER)
    assert first.as_bytes() == second.as_bytes()


def test_text_only_message_sends_inline_images_as_attachments(ctx, rich_email):
    row = rich_email.enqueue(html=None)
    parsed = reparse(build_message(row, sender=SENDER)[0])
    kinds = [p.get_content_type() for p in parsed.walk()]
    assert kinds == ["multipart/mixed", "text/plain", "image/png", "text/calendar"]


def test_injection_through_enqueue_never_adds_a_header(ctx, rich_email):
    row = rich_email.enqueue(
        to=format_address("Eve\r\nBcc: victim@example.net", "eve@example.org"),
        subject="Hello\r\nBcc: victim@example.net\r\n\r\n<b>fake body</b>",
        headers={"X-Campaign": "spring\r\nBcc: victim@example.net"},
    )
    msg, envelope = build_message(row, sender=SENDER)
    raw = msg.as_bytes()
    names = [line.split(":", 1)[0].lower() for line in header_lines(raw)]
    assert "bcc" not in names and names.count("to") == 1 and names.count("subject") == 1
    assert envelope.to_addrs == ["eve@example.org"]
    parsed = reparse(msg)
    assert parsed["Subject"] == "Hello Bcc: victim@example.net <b>fake body</b>"
    assert parsed["To"].addresses[0].display_name == "Eve Bcc: victim@example.net"
    assert parsed["X-Campaign"] == "spring Bcc: victim@example.net"


def test_injection_in_a_row_written_directly_is_neutralised_too(ctx):
    """Defence in depth: a row that did not go through enqueue_email() cannot inject either."""
    row = OutboxMessage(
        key="direct", message_id="<direct@eventsite.test>", to_addr="dana@example.org\r\nBcc: victim@example.net",
        subject="Hi\nBcc: victim@example.net", text_body="body", html_body=None, attachments=[],
        headers={"X-Ok": "fine", "X-Evil\r\nBcc": "victim@example.net", "Bcc": "victim@example.net"},
        next_attempt_at=utcnow(), created_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    msg, envelope = build_message(row, sender=SENDER)
    names = [line.split(":", 1)[0].lower() for line in header_lines(msg.as_bytes())]
    assert "bcc" not in names and "x-evil bcc" not in names and "x-ok" in names
    assert "victim@example.net" not in envelope.to_addrs
