"""The check-in screen over HTTP: its JSON endpoints (what checkin.js calls) and its no-JavaScript forms."""
from __future__ import annotations

import itertools
import re

import pytest

from eventsite.accounts.models import Role
from eventsite.extensions import db
from tests.checkin.conftest import post_scan, scan_count, scans, ticket
from tests.conftest import csrf_from, login
from tests.factories import make_event, make_member, make_ticket_type


def test_the_screen_has_everything_the_door_needs(staff_client, door):
    page = staff_client.get(door.screen)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Leadership Breakfast" in html
    assert 'aria-live="assertive"' in html and "Ready to scan" in html
    assert '<label for="code">Ticket code</label>' in html and 'id="code"' in html and "autofocus" in html
    assert '<label for="search-input">' in html and '<label for="door-input">' in html
    assert 'id="camera-toggle"' in html
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', html)
    assert '<script type="module" src="/static/checkin.js">' in html
    assert "<script>" not in html and " style=" not in html  # CSP: no inline script or style
    assert 'data-scanner-url="/static/vendor/qr-scanner/qr-scanner.min.js"' in html
    assert re.search(r'<strong id="count-in">0</strong> in .* <span id="count-expected">0</span> expected', html)
    assert "camera=(self)" in page.headers["Permissions-Policy"]
    assert "worker-src 'self' blob:" in page.headers["Content-Security-Policy"]


def test_the_vendored_scanner_and_its_worker_are_served_from_here(client):
    for name in ("qr-scanner.min.js", "qr-scanner-worker.min.js"):
        response = client.get(f"/static/vendor/qr-scanner/{name}")
        assert response.status_code == 200 and len(response.data) > 10_000
    assert b"export default" in client.get("/static/vendor/qr-scanner/qr-scanner.min.js").data
    assert client.get("/static/checkin.js").status_code == 200


def test_json_scan_answers_every_result(staff_client, door, tickets, app):
    [ok] = tickets(name="Jo Json", answers={str(door.diet_question_id): "Halal"})
    [unpaid] = tickets(name="Una Unpaid", paid=True)
    with app.app_context():
        other = make_event(door.organization_id, title="Spring Circle")
        from tests.checkin.conftest import register
        elsewhere = register(other.id, make_ticket_type(other).id).tickets[0].secret
        db.session.remove()

    def result(code, **extra):
        response = post_scan(staff_client, door.slug, {"code": code, "door": "Door B", **extra})
        assert response.status_code == 200 and response.mimetype == "application/json"
        return response.get_json()

    first = result(ok, request_id="11111111-aaaa")
    assert first["result"] == "ok" and first["admit"] is True
    assert first["headline"] == "Welcome, Jo Json!" and first["ticket"]["ticket_type"] == "General admission"
    assert first["ticket"]["door_answers"] == [{"question": "Dietary requirements", "answer": "Halal"}]
    assert first["checked_in_door"] == "Door B" and first["checked_in_by"] == "Dora Door"
    again = result(ok)
    assert again["result"] == "already_checked_in" and "at Door B by Dora Door" in again["detail"]
    assert result(unpaid)["result"] == "unpaid"
    wrong = result(elsewhere)
    assert wrong["result"] == "wrong_event" and wrong["other_event"] == "Spring Circle"
    assert result("NOSUCHCODE123")["result"] == "unknown"
    replay = result(ok, request_id="11111111-aaaa")
    assert replay["replayed"] is True and replay["result"] == "ok" and replay["scan_id"] == first["scan_id"]
    with app.app_context():
        assert [s.result for s in scans()] == ["ok", "already_checked_in", "unpaid", "wrong_event", "unknown"]
        assert {s.method for s in scans()} == {"keyboard"}
        db.session.remove()


@pytest.mark.parametrize("raw", [
    b'{"code": ""}', b'{"code": "' + b"A" * 10_240 + b'"}', b'{"code": "\\u0000\\u0000ABCDEFGH"}',
    b'{"code": "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"}', b'{"code": "\xf0\x9f\x8e\x9f\xf0\x9f\x8e\x9f"}',
    b'{"code": "\\ud800\\udc00\\ud800"}', b'{"code": 12345}', b'{"code": null}', b'{"code": ["A"]}', b'{}',
], ids=["empty", "10kB", "NUL", "invalid-utf8", "emoji", "lone-surrogate", "number", "null", "list", "no-code"])
def test_garbage_posted_raw_as_json_is_unknown_never_500(staff_client, door, tickets, app, raw):
    [secret] = tickets()
    response = post_scan(staff_client, door.slug, raw)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["result"] == "unknown"
    with app.app_context():
        assert ticket(secret).checked_in_at is None
        [log] = scans()
        assert log.result == "unknown" and "\x00" not in log.code
        db.session.remove()


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00garbage", b"A" * 10_240, "🎟️".encode()])
def test_garbage_posted_as_form_or_plain_bytes_is_unknown(staff_client, door, tickets, app, raw):
    tickets()
    for content_type, body in (("text/plain", raw),
                               ("application/x-www-form-urlencoded", b"code=" + raw.replace(b"\x00", b"%00"))):
        response = staff_client.post(f"/organizer/events/{door.slug}/checkin/scan", data=body, content_type=content_type,
                                     headers={"X-CSRFToken": staff_client.csrf})
        assert response.status_code == 200
        assert "Unknown code" in response.get_data(as_text=True)
    with app.app_context():
        assert [s.result for s in scans()] == ["unknown", "unknown"]
        db.session.remove()


def test_unparseable_json_is_a_clear_400_and_no_scan(staff_client, door, app):
    for raw in (b"{", b"\xff\xfe", b"[1, 2]"):
        response = post_scan(staff_client, door.slug, raw)
        assert response.status_code in (400, 422)
        assert response.get_json()["error"]["message"]
    with app.app_context():
        assert scan_count() == 0
        db.session.remove()


def test_bad_door_or_request_id_is_422_with_the_field(staff_client, door, tickets, app):
    [secret] = tickets()
    bad_door = post_scan(staff_client, door.slug, {"code": secret, "door": "x" * 41})
    bad_id = post_scan(staff_client, door.slug, {"code": secret, "request_id": "no spaces allowed"})
    assert bad_door.status_code == 422 and "door" in bad_door.get_json()["error"]["fields"]
    assert bad_id.status_code == 422 and "request_id" in bad_id.get_json()["error"]["fields"]
    with app.app_context():
        assert ticket(secret).checked_in_at is None and scan_count() == 0
        db.session.remove()


def test_scanning_needs_the_csrf_token(staff_client, door, tickets, app):
    [secret] = tickets()
    response = post_scan(staff_client, door.slug, {"code": secret}, csrf="")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "csrf"
    with app.app_context():
        assert ticket(secret).checked_in_at is None and scan_count() == 0
        db.session.remove()


def test_no_state_change_on_get(staff_client, door, tickets, app):
    [secret] = tickets()
    assert staff_client.get(f"/organizer/events/{door.slug}/checkin/scan?code={secret}").status_code == 405
    assert staff_client.get(f"{door.screen}?code={secret}").status_code == 200
    with app.app_context():
        assert ticket(secret).checked_in_at is None and scan_count() == 0
        db.session.remove()


def test_undo_over_json(staff_client, door, tickets, app):
    [secret] = tickets(name="Ulla Undo")
    ok = post_scan(staff_client, door.slug, {"code": secret}).get_json()
    undo = staff_client.post(f"/organizer/events/{door.slug}/checkin/undo", json={"scan_id": ok["scan_id"], "door": "B"},
                             headers={"X-CSRFToken": staff_client.csrf, "Accept": "application/json"})
    assert undo.status_code == 200
    assert undo.get_json()["undone"] is True and "Ulla Undo" in undo.get_json()["message"]
    missing = staff_client.post(f"/organizer/events/{door.slug}/checkin/undo", json={"scan_id": 987654},
                                headers={"X-CSRFToken": staff_client.csrf, "Accept": "application/json"})
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert post_scan(staff_client, door.slug, {"code": secret}).get_json()["result"] == "ok"
    with app.app_context():
        assert [(s.action, s.result) for s in scans()] == [("check_in", "ok"), ("undo", "undone"), ("check_in", "ok")]
        db.session.remove()


def test_search_finds_by_name_email_and_order_code(staff_client, door, tickets, app):
    [ada] = tickets(name="Ada Lovelace", email="ada@analytical.example")
    tickets(name="Grace Hopper", email="grace@navy.example")
    tickets(name="Penny Pending", paid=True)
    with app.app_context():
        ada_id, code = ticket(ada).id, ticket(ada).order.code
        db.session.remove()
    post_scan(staff_client, door.slug, {"code": ada})

    def search(q):
        response = staff_client.get(f"/organizer/events/{door.slug}/checkin/search", query_string={"q": q},
                                    headers={"Accept": "application/json"})
        assert response.status_code == 200
        return response.get_json()

    by_name = search("lovel")
    assert [r["attendee_name"] for r in by_name["results"]] == ["Ada Lovelace"]
    assert by_name["results"][0]["state"] == "checked_in" and by_name["results"][0]["can_check_in"] is False
    assert by_name["results"][0]["state_label"].startswith("Checked in at ")
    assert [r["attendee_name"] for r in search("NAVY.example")["results"]] == ["Grace Hopper"]
    assert [r["id"] for r in search(code.lower())["results"]] == [ada_id]
    assert [r["attendee_name"] for r in search("ada love")["results"]] == ["Ada Lovelace"]
    assert search("penny")["results"][0]["state"] == "unpaid"
    assert search("a")["too_short"] is True and search("a")["results"] == []
    assert search("%")["too_short"] is True
    assert search("%_")["results"] == []  # LIKE wildcards are escaped
    assert search("\x00\x00zz")["results"] == []
    assert search("x" * 5000)["results"] == []
    assert search("grace")["results"][0]["can_check_in"] is True


def test_stats_follow_other_doors(staff_client, door, tickets, app, organizer):
    secrets = tickets(n=3)
    tickets(paid=True)  # unpaid: not expected
    other_door = app.test_client()
    login(other_door, organizer["email"])
    other_door.csrf = csrf_from(other_door.get(door.screen).data)
    def stats():
        return staff_client.get(f"/organizer/events/{door.slug}/checkin/stats").get_json()

    assert stats() == {"checked_in": 0, "expected": 3}
    post_scan(other_door, door.slug, {"code": secrets[0], "door": "Door B"})
    assert stats() == {"checked_in": 1, "expected": 3}
    assert staff_client.get(f"/organizer/events/{door.slug}/checkin/stats").headers["Cache-Control"] == "no-store"


def test_the_no_javascript_forms_work_and_a_reload_is_not_a_second_scan(staff_client, door, tickets, app):
    [secret] = tickets(name="Nora Nojs")
    page = staff_client.get(door.screen).get_data(as_text=True)
    request_id = re.search(r'name="request_id" value="([0-9a-f]+)"', page).group(1)
    form = {"csrf_token": staff_client.csrf, "request_id": request_id, "code": secret, "door": ""}
    first = staff_client.post(f"/organizer/events/{door.slug}/checkin/scan", data=form)
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and "Welcome, Nora Nojs!" in html and "result-ok" in html
    assert "Undo this check-in" in html
    reload = staff_client.post(f"/organizer/events/{door.slug}/checkin/scan", data=form).get_data(as_text=True)
    assert "Welcome, Nora Nojs!" in reload and "answered before; nothing new was recorded" in reload

    # Search without JavaScript: the results come with the page, each with a "Check in" form.
    [other] = tickets(name="Otto Other")
    found = staff_client.get(door.screen, query_string={"q": "otto"}).get_data(as_text=True)
    assert "Otto Other" in found and 'aria-label="Check in Otto Other"' in found
    with app.app_context():
        otto_id = ticket(other).id
        db.session.remove()
    rid = re.findall(r'name="request_id" value="([0-9a-f]+)"', found)[-1]
    tapped = staff_client.post(f"/organizer/events/{door.slug}/checkin/scan",
                               data={"csrf_token": staff_client.csrf, "request_id": rid, "ticket_id": str(otto_id),
                                     "method": "search"})
    assert "Welcome, Otto Other!" in tapped.get_data(as_text=True)
    with app.app_context():
        assert [(s.result, s.method) for s in scans()] == [("ok", "form"), ("ok", "search")]
        db.session.remove()


def test_staff_of_another_event_gets_404_everywhere(app, door, tickets, organizer):
    [secret] = tickets()
    with app.app_context():
        other = make_event(door.organization_id, title="Other Night", slug="other-night")
        make_member(door.organization_id, Role.CHECKIN, "elsewhere@example.org", events=[other])
        db.session.remove()
    client = app.test_client()
    login(client, "elsewhere@example.org")
    csrf = csrf_from(client.get("/organizer/events/other-night/checkin").data)
    base = f"/organizer/events/{door.slug}/checkin"
    for url in (base, base + "/search?q=ada", base + "/stats", base + "/report"):
        assert client.get(url).status_code == 404, url
    for url in (base + "/scan", base + "/undo"):
        response = client.post(url, json={"code": secret, "scan_id": 1}, headers={"X-CSRFToken": csrf, "Accept": "application/json"})
        assert response.status_code == 404, url
    with app.app_context():
        assert ticket(secret).checked_in_at is None and scan_count() == 0
        db.session.remove()


def test_the_screen_and_a_scan_need_a_login(client, door, tickets, app):
    [secret] = tickets()
    page = client.get(door.screen)
    assert page.status_code == 302 and "/organizer/login" in page.headers["Location"]
    scan = client.post(f"{door.screen}/scan", data={"code": secret})
    assert scan.status_code in (302, 400)  # the login page, or the missing CSRF token
    with app.app_context():
        assert ticket(secret).checked_in_at is None and scan_count() == 0
        db.session.remove()


def test_door_staff_see_the_screen_link_on_their_dashboard(staff_client, door):
    html = staff_client.get("/organizer/").get_data(as_text=True)
    assert f'href="/organizer/events/{door.slug}/checkin"' in html and "Leadership Breakfast" in html


def test_the_organizer_report(organizer_client, door, tickets, app):
    from datetime import timedelta

    from eventsite.checkin.services import check_in
    from eventsite.core.db import utcnow
    from eventsite.events.models import Event
    from tests.checkin.conftest import user

    secrets = tickets(name="Early Bird", n=4)
    [supporter] = tickets(name="Sam Supporter", paid=True, confirm=True)
    with app.app_context():
        event = db.session.get(Event, door.event_id)
        staff = user(door.staff_email)
        start = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
        for i, (code, minutes, at_door) in enumerate([(secrets[0], 1, "Door A"), (secrets[1], 5, "Door A"),
                                                      (secrets[2], 50, "Door B"), (supporter, 52, "Door B"),
                                                      (secrets[0], 53, "Door B"), ("GARBAGEGARBAGE", 54, "Door B")]):
            check_in(code, event=event, staff=staff, door=at_door, now=start + timedelta(minutes=minutes))
        db.session.commit()
        local = (start.astimezone(event.tz)).strftime("%H:%M")
        db.session.remove()

    page = organizer_client.get(f"/organizer/events/{door.slug}/checkin/report")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'aria-current="page">Check-in</a>' in html
    assert "<strong>4</strong> checked in of 5 expected (80%)" in html
    # The chart: an accessible SVG with a data table, per 15 minutes.
    assert 'role="img"' in html and "<title id=\"arrivals-title\">Arrivals per 15 minutes</title>" in html
    assert f"<tr><td>{local}</td><td>2</td></tr>" in html  # two arrivals in the first quarter hour
    # 0:00, 0:15 and 0:30 (empty), 0:45, widened to a window of 8 quarter hours around them
    assert html.count('<rect class="bar"') == 8
    assert re.findall(r"<tr><td>[0-9:]+</td><td>(\d+)</td></tr>", html) == ["0", "0", "2", "0", "0", "2", "0", "0"]
    bars = [(float(x), float(w), float(h)) for x, w, h in
            re.findall(r'<rect class="bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="([\d.]+)"', html)]
    assert all(a[0] + a[1] <= b[0] for a, b in itertools.pairwise(bars))  # side by side, no overlap
    assert bars[0][0] >= 36 and bars[-1][0] + bars[-1][1] <= 640  # inside the plot
    assert [h > 0 for _, _, h in bars] == [False, False, True, False, False, True, False, False]
    # Checked in vs registered per type.
    assert re.search(r'General admission</td>\s*<td data-label="Checked in">3</td>\s*<td data-label="Registered">4</td>', html)
    assert re.search(r'Supporter</td>\s*<td data-label="Checked in">1</td>\s*<td data-label="Registered">1</td>', html)
    # The log, newest first, with filters.
    assert html.index("GARBAGEGARBAGE") < html.index("Early Bird")
    only_b = organizer_client.get(f"/organizer/events/{door.slug}/checkin/report?door=Door+B&result=ok").get_data(as_text=True)
    log_b = only_b[only_b.index("Scan log"):]
    assert "Sam Supporter" in log_b and "Early Bird guest 2" in log_b
    assert "GARBAGE" not in log_b and "Early Bird</td>" not in log_b and log_b.count("<tr class=\"log-") == 2
    # Unknown filter values show everything instead of failing.
    assert organizer_client.get(f"/organizer/events/{door.slug}/checkin/report?result=%00&door=x&page=abc").status_code == 200
    assert f'href="/organizer/events/{door.slug}/checkin"' in html


def test_check_in_staff_cannot_open_the_report(staff_client, door):
    assert staff_client.get(f"/organizer/events/{door.slug}/checkin/report").status_code == 403
