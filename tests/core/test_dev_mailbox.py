"""dev:// writes .eml files; /dev/mailbox/ shows them safely (development only)."""
from __future__ import annotations

import re
from email import message_from_bytes, policy
from html import unescape

import pytest

from eventsite.core.mail import enqueue_email
from eventsite.core.mail.worker import deliver_due
from eventsite.extensions import db
from tests.conftest import post_form

SCRIPTED_HTML = (
    '<html><head><title>t</title></head><body><p id="greeting">Hello <strong>Dana</strong></p>'
    '<p><img id="qr" src="cid:qr-1@eventsite.test" alt="QR code"></p>'
    '<p><a id="ticket" href="http://eventsite.test/tickets/ABC">Your ticket</a></p>'
    "<script>document.getElementById('greeting').textContent = 'script ran';</script></body></html>"
)


def send_rich(app, rich_email, **overrides) -> str:
    """Queue and deliver one rich email through dev://; return the mailbox name of the new message."""
    with app.app_context():
        rich_email.enqueue(**overrides)
        db.session.commit()
        assert deliver_due() == 1
    return newest_name(app)


def newest_name(app) -> str:
    from eventsite.core.mail.backends import dev_mailbox_directory

    files = sorted(dev_mailbox_directory(app.instance_path).glob("*.eml"))
    return files[-1].stem


def test_dev_backend_writes_eml_files(app, dev_mail, rich_email):
    with app.app_context():
        row = rich_email.enqueue()
        db.session.commit()
        message_id = row.message_id
        assert deliver_due() == 1
    [eml] = list(dev_mail.glob("*.eml"))
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["Message-ID"] == message_id and msg["To"] == "dana@example.org"
    assert [p.get_content_type() for p in msg.walk() if not p.is_multipart()] == [
        "text/plain", "text/html", "image/png", "text/calendar"]
    assert list(dev_mail.glob(".*.tmp")) == []  # written atomically


def test_mailbox_lists_messages_newest_first(app, client, dev_mail):
    with app.app_context():
        enqueue_email(key="one", to="first@example.org", subject="First message", text="1")
        db.session.commit()
        deliver_due()
        enqueue_email(key="two", to="second@example.org", subject="Second <message>", text="2")
        db.session.commit()
        deliver_due()
    page = client.get("/dev/mailbox/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Second &lt;message&gt;" in html and "<message>" not in html  # escaped
    assert html.index("Second &lt;message&gt;") < html.index("First message")
    assert html.index("second@example.org") < html.index("first@example.org")
    assert "2 messages" in html


def test_message_page_shows_headers_text_html_frame_and_attachments(app, client, dev_mail, rich_email):
    name = send_rich(app, rich_email, html=SCRIPTED_HTML)
    page = client.get(f"/dev/mailbox/{name}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<h1>Your ticket for Leadership Evening</h1>" in html
    assert "List-Unsubscribe" in html and "&lt;https://eventsite.test/u/abc&gt;" in html
    assert "your ticket is attached. See you there!" in html
    assert re.search(r'<iframe class="mail-frame" sandbox="[^"]*"\s+src="/dev/mailbox/%s/html"' % name, html)
    assert "script ran" not in html and "<script>document" not in html  # the HTML part is not inlined

    links = dict((unescape(label), href) for href, label in re.findall(r'<a href="([^"]+/parts/\d+)" download>([^<]+)</a>', html))
    assert set(links) == {"ticket-qr.png", "event.ics"}
    ics = client.get(links["event.ics"])
    assert ics.data == rich_email.ics
    assert ics.headers["Content-Disposition"].startswith("attachment") and "event.ics" in ics.headers["Content-Disposition"]


def test_html_part_has_its_own_strict_csp_and_inline_images(app, client, dev_mail, rich_email):
    name = send_rich(app, rich_email, html=SCRIPTED_HTML)
    response = client.get(f"/dev/mailbox/{name}/html")
    csp = response.headers["Content-Security-Policy"]
    assert response.status_code == 200 and response.mimetype == "text/html"
    for directive in ("default-src 'none'", "img-src data: cid: 'self'", "style-src 'unsafe-inline'",
                      "frame-ancestors 'self'", "sandbox"):
        assert directive in csp
    assert "frame-ancestors 'none'" not in csp and "script-src" not in csp
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    body = response.get_data(as_text=True)
    assert "cid:" not in body
    [src] = re.findall(r'<img id="qr" src="([^"]+)"', body)
    assert src == f"/dev/mailbox/{name}/cid/qr-1@eventsite.test"
    assert '<base target="_blank">' in body

    image = client.get(src)
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data == rich_email.png

    # The rest of the site still forbids framing.
    assert "frame-ancestors 'none'" in client.get(f"/dev/mailbox/{name}").headers["Content-Security-Policy"]


def test_unknown_or_malicious_names_are_404(app, client, dev_mail, rich_email):
    name = send_rich(app, rich_email)
    for url in ["/dev/mailbox/20300101T000000000000Z-deadbeef", "/dev/mailbox/..%2Fsecret_key",
                "/dev/mailbox/secret_key/html", f"/dev/mailbox/{name}/parts/99", f"/dev/mailbox/{name}/cid/nope@x"]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Page not found" in response.get_data(as_text=True)


def test_raw_download(app, client, dev_mail, rich_email):
    name = send_rich(app, rich_email)
    raw = client.get(f"/dev/mailbox/{name}/raw")
    assert raw.mimetype == "message/rfc822" and raw.data == (dev_mail / f"{name}.eml").read_bytes()


def test_clear_mailbox_needs_a_post_with_csrf(app, client, dev_mail, rich_email):
    send_rich(app, rich_email)
    assert client.post("/dev/mailbox/clear").status_code == 400  # no CSRF token
    assert len(list(dev_mail.glob("*.eml"))) == 1
    response = post_form(client, "/dev/mailbox/clear", {}, form_url="/dev/mailbox/", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Mailbox cleared (1 message removed)." in html and "The mailbox is empty." in html
    assert list(dev_mail.glob("*.eml")) == []


def test_mailbox_says_when_mail_is_waiting_or_goes_elsewhere(app, client, dev_mail, monkeypatch):
    with app.app_context():
        enqueue_email(key="waiting", to="dana@example.org", subject="Waiting", text="w")
        db.session.commit()
    html = client.get("/dev/mailbox/").get_data(as_text=True)
    assert "1 message waiting in the outbox" in html
    monkeypatch.setitem(app.config, "EVENTSITE_MAIL_URL", "smtp://user:hunter2@relay.example:587")
    html = client.get("/dev/mailbox/").get_data(as_text=True)
    assert "smtp://user:***@relay.example:587" in html and "hunter2" not in html


def test_no_mailbox_in_production(monkeypatch, tmp_path):
    from eventsite import create_app
    from eventsite.config import TestConfig

    monkeypatch.setenv("EVENTSITE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "prod.db"))
    monkeypatch.setenv("EVENTSITE_BASE_URL", "https://events.example.org")
    monkeypatch.setenv("EVENTSITE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("EVENTSITE_MAIL_URL", raising=False)
    production = create_app(TestConfig)
    assert production.config["EVENTSITE_ENV"] == "production"
    client = production.test_client()
    for url in ("/dev/mailbox/", "/dev/mailbox/20300101T000000000000Z-deadbeef/html"):
        response = client.get(url)
        assert response.status_code == 404 and "Page not found" in response.get_data(as_text=True)
    assert not any(rule.endpoint.startswith("mailbox.") for rule in production.url_map.iter_rules())


@pytest.mark.browser
def test_the_message_page_in_a_real_browser(app, live_server, page, dev_mail, rich_email):
    name = send_rich(app, rich_email, html=SCRIPTED_HTML)
    page.goto(f"{live_server}/dev/mailbox/")
    page.get_by_role("link", name="Your ticket for Leadership Evening").click()
    page.wait_for_url(f"**/dev/mailbox/{name}")
    frame = page.frame_locator("iframe.mail-frame")
    greeting = frame.locator("#greeting")
    greeting.wait_for()
    assert greeting.inner_text() == "Hello Dana"  # the email's script did not run
    qr = frame.locator("#qr")
    # The inline cid: image loads through the parts route despite the sandbox and the strict CSP.
    qr.evaluate("img => img.complete || new Promise(r => { img.onload = r; img.onerror = r; })")
    assert qr.evaluate("img => img.naturalWidth") > 0
    assert page.get_by_text("event.ics").is_visible()
    assert page.locator("pre.mail-text").inner_text().startswith("Hello Dana,")
