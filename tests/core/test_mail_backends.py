"""EVENTSITE_MAIL_URL: parsing, and the TLS and login paths against real SMTP servers."""
from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from eventsite.core.mail.backends import (
    DevMailboxBackend,
    MailConfigError,
    SMTPBackend,
    backend_from_url,
    redact,
)


def parse(url: str, **kw):
    return backend_from_url(url, instance_path="/srv/instance", **kw)


def test_smtp_url_with_percent_encoded_credentials_and_starttls():
    backend = parse("smtp://mailer%40example.org:p%40ss%3Aw%2Frd@mail.example.org:587?starttls=1")
    assert backend == SMTPBackend(
        host="mail.example.org", port=587, username="mailer@example.org", password="p@ss:w/rd",
        starttls=True, implicit_tls=False, timeout=30.0,
    )
    assert "p@ss" not in backend.url and "w%2Frd" not in backend.url


def test_smtp_defaults_and_options():
    plain = parse("smtp://127.0.0.1")
    assert (plain.host, plain.port, plain.username, plain.password, plain.starttls) == ("127.0.0.1", 25, None, None, False)
    assert parse("smtp://relay:2525?starttls=0&timeout=7.5").timeout == 7.5
    assert parse("smtp://relay:2525?starttls=true").starttls is True
    tls = parse("smtps://user:secret@smtp.example.org")
    assert (tls.port, tls.implicit_tls, tls.starttls, tls.username, tls.password) == (465, True, False, "user", "secret")
    assert parse("SMTP://[::1]:2525").host == "::1"


@pytest.mark.parametrize(
    "url, message",
    [
        ("mailgun://key@api", "unknown scheme mailgun://"),
        ("127.0.0.1:25", "unknown scheme"),
        ("", "is empty"),
        ("smtp://:25", "no host"),
        ("smtp://host:notaport", "bad port"),
        ("smtp://host:25?starttls=maybe", "starttls='maybe' must be 1 or 0"),
        ("smtp://host:25?tls=1", "unknown option(s) tls"),
        ("smtp://host:25?timeout=soon", "timeout must be a number of seconds"),
        ("smtps://host?starttls=1", "smtps:// is already TLS"),
        ("dev://somewhere", "dev:// takes no host"),
    ],
)
def test_bad_mail_urls_are_clear_errors(url, message):
    with pytest.raises(MailConfigError) as e:
        parse(url)
    assert message in str(e.value)


def test_errors_never_print_the_password():
    with pytest.raises(MailConfigError) as e:
        parse("smtp://user:hunter2@host:25?bogus=1")
    assert "hunter2" not in str(e.value) and "user:***@host" in str(e.value)
    assert redact("smtp://u:hunter2@h:25") == "smtp://u:***@h:25"


def test_dev_url_is_the_instance_mailbox_and_refused_in_production():
    backend = parse("dev://")
    assert isinstance(backend, DevMailboxBackend)
    assert backend.directory == Path("/srv/instance/mailbox")
    with pytest.raises(MailConfigError, match="production"):
        parse("dev://", production=True)


def _message(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "eventsite <no-reply@eventsite.test>"
    msg["To"] = to
    msg["Subject"] = "TLS check"
    msg.set_content("over TLS")
    return msg


def test_starttls_and_login_with_decoded_credentials(starttls_smtp):
    backend = parse(starttls_smtp.url)
    connection = backend.open()
    try:
        connection.send(_message("dana@example.org"), "no-reply@eventsite.test", ["dana@example.org"])
    finally:
        connection.close()
    assert starttls_smtp.logins == [("mailer@eventsite.test", "p@ss:w/rd%")]
    [received] = starttls_smtp.messages
    assert received.rcpt_tos == ["dana@example.org"]
    assert message_from_bytes(received.data, policy=policy.default).get_content().strip() == "over TLS"


def test_wrong_password_is_a_connect_error(starttls_smtp):
    from eventsite.core.mail.backends import ConnectError

    url = starttls_smtp.url.replace("p%40ss", "wrong")
    connection = parse(url).open()
    with pytest.raises(ConnectError, match="535"):
        connection.send(_message("dana@example.org"), "no-reply@eventsite.test", ["dana@example.org"])
    connection.close()
    assert starttls_smtp.messages == []


def test_implicit_tls(smtps_server):
    connection = parse(smtps_server.url).open()
    try:
        connection.send(_message("dana@example.org"), "no-reply@eventsite.test", ["dana@example.org"])
    finally:
        connection.close()
    assert [m.rcpt_tos for m in smtps_server.messages] == [["dana@example.org"]]
