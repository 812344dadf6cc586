"""The confirmation email as it arrives at a real SMTP server: content, QR codes, .ics, and no
injection through names, answers or titles."""
from __future__ import annotations

from datetime import datetime, timezone

from eventsite.core.mail.worker import deliver_due
from eventsite.events.models import QuestionKind
from eventsite.extensions import db
from eventsite.registration.services import register_attendees
from tests.factories import make_event, make_question, make_ticket_type
from tests.registration.helpers import decode_qr_png

STARTS = datetime(2030, 3, 8, 17, 30, tzinfo=timezone.utc)  # 18:30 in Berlin (CET)
ENDS = datetime(2030, 3, 8, 20, 30, tzinfo=timezone.utc)


def _parts(message):
    """text, html, [(content-id, bytes)], [(filename, content-type, bytes)] of a received message."""
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    inline, attached = [], []
    for part in message.walk():
        if part.is_multipart():
            continue
        if part.get("Content-ID"):
            inline.append((part["Content-ID"].strip("<>"), part.get_payload(decode=True)))
        elif part.get_filename():
            attached.append((part.get_filename(), part.get_content_type(), part.get_payload(decode=True)))
    return text, html, inline, attached


def _deliver(app) -> None:
    with app.app_context():
        assert deliver_due() >= 1
        db.session.remove()


def test_confirmation_arrives_with_every_qr_code_and_the_calendar_file(app, org_id, mailbox):
    with app.app_context():
        event = make_event(org_id, title="Negotiation Evening", starts_at=STARTS, ends_at=ENDS,
                           timezone="Europe/Berlin", venue_name="Kulturhaus Mitte",
                           venue_address="Hauptstraße 1\n10115 Berlin", online_url="https://meet.example.org/neg")
        tt = make_ticket_type(event, name="Table seat", capacity=20)
        q = make_question(event, label="Dietary requirements")
        order = register_attendees(
            event, buyer_name="Dana Okafor", buyer_email="dana@example.org", quantities={tt.id: 3},
            attendees=[{"name": "Eli Chen"}, {"name": "Fatima Noor", "email": "fatima@example.org"}],
            answers={q.id: "Vegan"},
        )
        db.session.commit()
        expected = {t.secret: t.attendee_name for t in order.tickets}
        token, code = order.token, order.code
        db.session.remove()

    _deliver(app)
    received = mailbox.to("dana@example.org")
    assert len(received) == 1 and received[0].rcpt_tos == ["dana@example.org"]
    assert mailbox.to("fatima@example.org") == []  # one email per order, to the buyer
    message = received[0].message
    assert message["Subject"] == "Your tickets: Negotiation Evening"
    assert message["To"].addresses[0].display_name == "Dana Okafor"
    text, html, inline, attached = _parts(message)

    for body in (text, html):
        assert "Negotiation Evening" in body
        assert "18:30" in body and "CET" in body and "Europe/Berlin" in body  # the event's zone, named
        assert "Kulturhaus Mitte" in body and "10115 Berlin" in body
        assert "https://meet.example.org/neg" in body
        assert f"http://eventsite.test/tickets/{token}" in body
        assert code in body and "Vegan" in body
        for name in expected.values():
            assert name in body
    assert "Table seat" in html

    # Every QR code is an inline image referenced from the HTML, and decodes to its ticket's secret.
    assert len(inline) == 3
    decoded = {}
    for cid, data in inline:
        assert f"cid:{cid}" in html
        [secret] = decode_qr_png(data)
        decoded[secret] = cid
    assert set(decoded) == set(expected)

    [(filename, content_type, ics)] = attached
    assert filename.endswith(".ics") and content_type == "text/calendar"
    assert b"SUMMARY:Negotiation Evening" in ics
    assert b"DTSTART;TZID=Europe/Berlin:20300308T183000" in ics


def test_names_answers_and_titles_cannot_inject_headers_or_markup(app, org_id, mailbox):
    with app.app_context():
        # A title straight into the database (the editor would refuse it), with a header attempt.
        event = make_event(org_id, title="Gala <i>night</i>\r\nBcc: evil@example.org", starts_at=STARTS, ends_at=ENDS)
        tt = make_ticket_type(event, name="<b>VIP</b>", capacity=5)
        q = make_question(event, label="Note <u>here</u>", kind=QuestionKind.LONG_TEXT)
        register_attendees(
            event,
            buyer_name='Mallory "<script>alert(1)</script>", <evil@example.org>',
            buyer_email="mallory@example.org",
            quantities={tt.id: 2},
            attendees=[{"name": "<img src=x onerror=alert(2)>"}],
            answers={q.id: "line one\r\nBcc: evil@example.org\r\n<a href='javascript:alert(3)'>click</a>"},
        )
        db.session.commit()
        db.session.remove()

    _deliver(app)
    assert mailbox.to("evil@example.org") == []
    [received] = mailbox.to("mallory@example.org")
    assert received.rcpt_tos == ["mallory@example.org"]
    message = received.message
    assert message["Bcc"] is None and message.get_all("To") and len(message.get_all("To")) == 1
    assert [a.addr_spec for a in message["To"].addresses] == ["mallory@example.org"]
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Subject"].startswith("Your tickets: Gala <i>night</i>")

    text, html, inline, _ = _parts(message)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<i>night</i>" not in html and "&lt;i&gt;night&lt;/i&gt;" in html
    assert "<b>VIP</b>" not in html and "<u>here</u>" not in html
    assert "<a href='javascript" not in html and "&lt;a href=&#39;javascript:alert(3)&#39;&gt;" in html
    # Plain text is plain: what they typed, shown as typed.
    assert "<script>alert(1)</script>" in text and "<img src=x onerror=alert(2)>" in text
    assert len(inline) == 2 and all(decode_qr_png(data) for _, data in inline)
