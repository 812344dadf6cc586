"""Fixtures for the core tests: sample email content, the dev mailbox, and SMTP servers of our own
(recording the connection of each message, refusing some recipients, requiring TLS and a login)."""
from __future__ import annotations

import io
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass, field

import pytest

from eventsite.core.mail.backends import dev_mailbox_directory
from tests.conftest import free_port

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//eventsite//test//EN\r\nBEGIN:VEVENT\r\n"
    "UID:evt-1@eventsite.test\r\nDTSTAMP:20300101T090000Z\r\nDTSTART:20300101T180000Z\r\n"
    "SUMMARY:Leadership Evening\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
).encode()


def qr_png(data: str = "TICKET-123") -> bytes:
    import qrcode

    buf = io.BytesIO()
    qrcode.make(data).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class RichEmail:
    """An email with everything a confirmation will have: text, HTML, a QR image, a calendar file."""

    key: str = "confirmation:1"
    to: str = "dana@example.org"
    subject: str = "Your ticket for Leadership Evening"
    text: str = "Hello Dana,\n\nyour ticket is attached. See you there!\n"
    html: str = '<p>Hello <strong>Dana</strong>,</p><p><img src="cid:qr-1@eventsite.test" alt="QR code"></p>'
    png: bytes = field(default_factory=qr_png)
    ics: bytes = ICS

    def enqueue(self, **overrides):
        from eventsite.core.mail import Attachment, enqueue_email

        kwargs = dict(
            key=self.key, to=self.to, subject=self.subject, text=self.text, html=self.html,
            attachments=[
                Attachment("ticket-qr.png", "image/png", self.png, inline_cid="qr-1@eventsite.test"),
                Attachment("event.ics", "text/calendar", self.ics),
            ],
            headers={"List-Unsubscribe": "<https://eventsite.test/u/abc>"},
        )
        kwargs.update(overrides)
        return enqueue_email(**kwargs)


@pytest.fixture
def rich_email() -> RichEmail:
    return RichEmail()


@pytest.fixture
def dev_mail(app, monkeypatch):
    """Mail goes to the dev mailbox (dev://) for this test; the mailbox starts and ends empty."""
    directory = dev_mailbox_directory(app.instance_path)
    shutil.rmtree(directory, ignore_errors=True)
    monkeypatch.setitem(app.config, "EVENTSITE_MAIL_URL", "dev://")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Received:
    peer: tuple
    rcpt_tos: list[str]
    data: bytes


@dataclass
class RecordingServer:
    url: str
    messages: list[Received]
    logins: list[tuple[str, str]]


class _Handler:
    """Accepts everything except recipients at refused.example (550), remembering each connection."""

    def __init__(self, messages: list[Received], lock: threading.Lock):
        self.messages, self.lock = messages, lock

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(Received(session.peer, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


def _start(controller_kwargs: dict, scheme: str = "smtp", query: str = "", userinfo: str = ""):
    from aiosmtpd.controller import Controller

    messages: list[Received] = []
    logins: list[tuple[str, str]] = []
    lock = threading.Lock()
    port = free_port()
    controller = Controller(_Handler(messages, lock), hostname="127.0.0.1", port=port, **controller_kwargs)
    controller.start()
    server = RecordingServer(f"{scheme}://{userinfo}127.0.0.1:{port}{query}", messages, logins)
    return controller, server


@pytest.fixture
def recording_smtp():
    controller, server = _start({})
    yield server
    controller.stop()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def trust_cert(tls_cert, monkeypatch):
    """Make the mail backend trust the self-signed test certificate (and nothing else changes)."""
    from eventsite.core.mail import backends

    cert, _ = tls_cert
    real = ssl.create_default_context
    monkeypatch.setattr(backends, "tls_context", lambda: real(cafile=str(cert)))
    return cert


def _server_context(tls_cert) -> ssl.SSLContext:
    cert, key = tls_cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


def _authenticator(logins):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            logins.append((user, password))
            if (user, password) == ("mailer@eventsite.test", "p@ss:w/rd%"):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return authenticate


@pytest.fixture
def starttls_smtp(tls_cert, trust_cert):
    """An SMTP server that requires STARTTLS and then a login (user mailer@eventsite.test)."""
    logins: list = []
    controller, server = _start(
        dict(tls_context=_server_context(tls_cert), require_starttls=True, auth_required=True,
             authenticator=_authenticator(logins)),
        query="?starttls=1", userinfo="mailer%40eventsite.test:p%40ss%3Aw%2Frd%25@",
    )
    server.logins = logins
    yield server
    controller.stop()


@pytest.fixture
def smtps_server(tls_cert, trust_cert):
    """An SMTP server speaking TLS from the first byte (smtps://)."""
    controller, server = _start(dict(ssl_context=_server_context(tls_cert)), scheme="smtps")
    yield server
    controller.stop()
