"""The access control matrix: every route of the app x every role gets exactly the answer in MATRIX.

Roles (columns, in this order):
  anonymous   no login
  attendee    no login, but holds the attendee's private links (order, ticket, waitlist, profile links)
  door        check-in staff of organization A, assigned to this event
  other_door  check-in staff of organization A, assigned to another event only
  outsider    owner of organization B
  organizer   organizer (not owner) of organization A
  owner       owner of organization A

The rows are enumerated from app.url_map: a route without a row (or a row without a route) fails
test_every_route_has_a_row, so a new page cannot ship without its line here.

Policy, read off the table: organizer pages send a visitor without a login to the login page (302);
someone outside the event's organization gets 404 (its existence is not revealed), as does door staff
for an event she is not assigned to; a member whose role is not enough gets 403. Door staff reach only
the check-in screen and its JSON endpoints. Team pages are the owner's. The API answers 401 without a
valid token and then the same as the pages. Private links are bearer links: whoever holds the token
gets the page, with or without a login, and a wrong token is a 404 whoever asks.

Each POST/PATCH carries the role's valid CSRF token (API: a JSON body `{}`) and nothing else, so an
allowed request shows up as the form's own answer (422, 400) or, for a bare confirmation button, its
success (303); a refused one as 302 (login), 401, 403 or 404. Cells are requested GETs first, then the
changes, the destructive ones last (LAST), and each role in a world of its own.

To see what every role gets now (e.g. to write the row of a new route):
EVENTSITE_MATRIX_DUMP=/tmp/matrix.txt pytest tests/security/test_access_matrix.py
"""
from __future__ import annotations

import os

import pytest

from eventsite.extensions import db
from tests.conftest import csrf_from
from tests.security.matrix_world import EMAILS, ROLES, build_world, password_for, url_for_rule

# Written as 7 answers per (endpoint, method), in ROLES order. "L" = a 302 to the login page.
MATRIX: dict[tuple[str, str], str] = {
    #                                                      anon att door odoor outs org  owner
    # public pages
    ("events.ics", "GET"):                                "200 200 200 200 200 200 200",
    ("events.index", "GET"):                              "200 200 200 200 200 200 200",
    ("events.show", "GET"):                               "200 200 200 200 200 200 200",
    ("events.upload", "GET"):                             "404 404 404 404 404 404 404",
    # her ticket page (bearer link: the order token)
    ("registration.cancel_order", "GET"):                 "404 200 404 404 404 404 404",
    ("registration.cancel_order", "POST"):                "404 303 404 404 404 404 404",
    ("registration.cancel_ticket", "GET"):                "404 200 404 404 404 404 404",
    ("registration.cancel_ticket", "POST"):               "404 303 404 404 404 404 404",
    ("registration.register", "POST"):                    "422 422 422 422 422 422 422",
    ("registration.rename", "POST"):                      "404 422 404 404 404 404 404",
    ("registration.resend", "POST"):                      "200 200 200 200 200 200 200",
    ("registration.ticket", "GET"):                       "404 200 404 404 404 404 404",
    ("registration.ticket_ics", "GET"):                   "404 200 404 404 404 404 404",
    ("registration.ticket_qr", "GET"):                    "404 200 404 404 404 404 404",
    # the waitlist (bearer link: the entry token)
    ("waitlist.claim", "POST"):                           "404 409 404 404 404 404 404",  # no offer yet
    ("waitlist.join", "GET"):                             "200 200 200 200 200 200 200",
    ("waitlist.join", "POST"):                            "422 422 422 422 422 422 422",
    ("waitlist.leave", "GET"):                            "404 200 404 404 404 404 404",
    ("waitlist.leave", "POST"):                           "404 303 404 404 404 404 404",
    ("waitlist.show", "GET"):                             "404 200 404 404 404 404 404",
    # payment pages (bearer links) and the Stripe webhook (signature, not a login)
    ("payments.cancel_order", "GET"):                     "404 303 404 404 404 404 404",
    ("payments.cancel_order", "POST"):                    "404 303 404 404 404 404 404",
    ("payments.order_page", "GET"):                       "404 200 404 404 404 404 404",
    ("payments.order_page_for_ticket", "GET"):            "404 303 404 404 404 404 404",
    ("payments.pay", "POST"):                             "404 303 404 404 404 404 404",
    ("payments.release", "POST"):                         "404 303 404 404 404 404 404",
    ("payments.success", "GET"):                          "404 404 404 404 404 404 404",
    ("payments.webhook", "POST"):                         "400 400 400 400 400 400 400",
    # the dev payment page (development only; its session id is the link)
    ("payments_dev.dev_checkout", "GET"):                 "404 200 404 404 404 404 404",
    ("payments_dev.dev_checkout", "POST"):                "404 303 404 404 404 404 404",
    # her data download (bearer link) and the organizer's erasure
    ("privacy.download", "GET"):                          "404 200 404 404 404 404 404",
    ("privacy.erase", "GET"):                             "L   L   403 404 404 200 200",
    ("privacy.erase", "POST"):                            "L   L   403 404 404 422 422",
    # keep-in-touch links (signed; accept/feedback links are made per introduction: nobody here holds one)
    ("connections.accept_introduction", "GET"):           "404 404 404 404 404 404 404",
    ("connections.accept_introduction", "POST"):          "404 404 404 404 404 404 404",
    ("connections.delete_from_preferences", "GET"):       "404 200 404 404 404 404 404",
    ("connections.delete_from_preferences", "POST"):      "404 200 404 404 404 404 404",
    ("connections.delete_profile", "GET"):                "404 200 404 404 404 404 404",
    ("connections.delete_profile", "POST"):               "404 303 404 404 404 404 404",
    ("connections.feedback", "GET"):                      "404 404 404 404 404 404 404",
    ("connections.feedback", "POST"):                     "404 404 404 404 404 404 404",
    ("connections.preferences", "GET"):                   "404 200 404 404 404 404 404",
    ("connections.profile", "GET"):                       "404 200 404 404 404 404 404",
    ("connections.profile", "POST"):                      "404 303 404 404 404 404 404",
    # her valid link to an introduction, but the event has not happened: "no longer possible" (410)
    ("connections.request_introduction", "GET"):          "404 410 404 404 404 404 404",
    ("connections.request_introduction", "POST"):         "404 410 404 404 404 404 404",
    ("connections.set_consent", "POST"):                  "404 303 404 404 404 404 404",
    ("connections.set_emails", "POST"):                   "404 303 404 404 404 404 404",
    ("connections.unsubscribe", "GET"):                   "404 200 404 404 404 404 404",
    ("connections.unsubscribe", "POST"):                  "404 200 404 404 404 404 404",
    # health
    ("core.healthz", "GET"):                              "200 200 200 200 200 200 200",
    # the dev mailbox (development only: never registered in production)
    ("mailbox.clear", "POST"):                            "302 302 302 302 302 302 302",
    ("mailbox.html", "GET"):                              "404 404 404 404 404 404 404",
    ("mailbox.index", "GET"):                             "200 200 200 200 200 200 200",
    ("mailbox.inline", "GET"):                            "404 404 404 404 404 404 404",
    ("mailbox.message", "GET"):                           "404 404 404 404 404 404 404",
    ("mailbox.part", "GET"):                              "404 404 404 404 404 404 404",
    ("mailbox.raw", "GET"):                               "404 404 404 404 404 404 404",
    # login, password reset, settings (her own), the team (owners)
    ("accounts.change_password", "POST"):                 "L   L   422 422 422 422 422",
    ("accounts.change_role", "POST"):                     "L   L   403 403 404 403 422",
    ("accounts.create_token", "POST"):                    "L   L   422 422 422 422 422",
    ("accounts.door_events", "GET"):                      "L   L   403 403 404 403 200",
    ("accounts.door_events", "POST"):                     "L   L   403 403 404 403 303",
    ("accounts.forgot_password", "GET"):                  "200 200 200 200 200 200 200",
    ("accounts.forgot_password", "POST"):                 "422 422 422 422 422 422 422",
    ("accounts.invitation", "GET"):                       "404 404 404 404 404 404 404",
    ("accounts.invitation", "POST"):                      "404 404 404 404 404 404 404",
    ("accounts.invite", "POST"):                          "L   L   403 403 404 403 422",
    ("accounts.login", "GET"):                            "200 200 302 302 302 302 302",
    ("accounts.login", "POST"):                           "422 422 422 422 422 422 422",
    ("accounts.logout", "POST"):                          "303 303 303 303 303 303 303",
    ("accounts.remove_member", "GET"):                    "L   L   403 403 404 403 200",
    ("accounts.remove_member", "POST"):                   "L   L   403 403 404 403 303",
    ("accounts.resend_invitation", "POST"):               "L   L   403 403 404 403 303",
    ("accounts.reset_password", "GET"):                   "404 404 404 404 404 404 404",
    ("accounts.reset_password", "POST"):                  "404 404 404 404 404 404 404",
    ("accounts.revoke_invitation", "POST"):               "L   L   403 403 404 403 303",
    ("accounts.revoke_token", "GET"):                     "L   L   404 404 404 404 200",
    ("accounts.revoke_token", "POST"):                    "L   L   404 404 404 404 303",
    ("accounts.settings", "GET"):                         "L   L   200 200 200 200 200",
    ("accounts.team_page", "GET"):                        "L   L   200 200 200 200 200",
    ("accounts.update_profile", "POST"):                  "L   L   422 422 422 422 422",
    # the event editor (owners and organizers of the event's organization)
    ("manage_events.cancel", "GET"):                      "L   L   403 404 404 200 200",
    ("manage_events.cancel", "POST"):                     "L   L   403 404 404 302 302",
    ("manage_events.dashboard", "GET"):                   "L   L   200 200 200 200 200",
    ("manage_events.delete_question", "POST"):            "L   L   403 404 404 302 302",
    ("manage_events.delete_ticket_type", "POST"):         "L   L   403 404 404 302 302",
    ("manage_events.edit_event", "GET"):                  "L   L   403 404 404 200 200",
    ("manage_events.edit_event", "POST"):                 "L   L   403 404 404 422 422",
    ("manage_events.edit_question", "GET"):               "L   L   403 404 404 200 200",
    ("manage_events.edit_question", "POST"):              "L   L   403 404 404 422 422",
    ("manage_events.edit_ticket_type", "GET"):            "L   L   403 404 404 200 200",
    ("manage_events.edit_ticket_type", "POST"):           "L   L   403 404 404 422 422",
    ("manage_events.event", "GET"):                       "L   L   403 404 404 200 200",
    # allowed, but the form names no direction: 400
    ("manage_events.move_question", "POST"):              "L   L   403 404 404 400 400",
    ("manage_events.move_ticket_type", "POST"):           "L   L   403 404 404 400 400",
    ("manage_events.new_event", "GET"):                   "L   L   403 403 200 200 200",
    ("manage_events.new_event", "POST"):                  "L   L   403 403 422 422 422",
    ("manage_events.new_question", "GET"):                "L   L   403 404 404 200 200",
    ("manage_events.new_question", "POST"):               "L   L   403 404 404 422 422",
    ("manage_events.new_ticket_type", "GET"):             "L   L   403 404 404 200 200",
    ("manage_events.new_ticket_type", "POST"):            "L   L   403 404 404 422 422",
    ("manage_events.publish", "POST"):                    "L   L   403 404 404 302 302",
    ("manage_events.questions", "GET"):                   "L   L   403 404 404 200 200",
    ("manage_events.ticket_type_visibility", "POST"):     "L   L   403 404 404 302 302",
    ("manage_events.ticket_types", "GET"):                "L   L   403 404 404 200 200",
    ("manage_events.unpublish", "POST"):                  "L   L   403 404 404 302 302",
    # registrations
    ("manage_registration.cancel_order", "GET"):          "L   L   403 404 404 200 200",
    ("manage_registration.cancel_order", "POST"):         "L   L   403 404 404 302 302",
    ("manage_registration.cancel_ticket", "GET"):         "L   L   403 404 404 200 200",
    ("manage_registration.cancel_ticket", "POST"):        "L   L   403 404 404 302 302",
    ("manage_registration.chart", "GET"):                 "L   L   403 404 404 200 200",
    ("manage_registration.complimentary", "GET"):         "L   L   403 404 404 200 200",
    ("manage_registration.complimentary", "POST"):        "L   L   403 404 404 422 422",
    ("manage_registration.export_csv", "GET"):            "L   L   403 404 404 200 200",
    ("manage_registration.index", "GET"):                 "L   L   403 404 404 200 200",
    ("manage_registration.order", "GET"):                 "L   L   403 404 404 200 200",
    ("manage_registration.resend", "POST"):               "L   L   403 404 404 302 302",
    # payments and refunds
    ("manage_payments.index", "GET"):                     "L   L   403 404 404 200 200",
    ("manage_payments.refund", "GET"):                    "L   L   403 404 404 200 200",
    ("manage_payments.refund", "POST"):                   "L   L   403 404 404 303 303",
    # the follow-up plan
    ("manage_connections.index", "GET"):                  "L   L   403 404 404 200 200",
    ("manage_connections.index", "POST"):                 "L   L   403 404 404 422 422",
    ("manage_connections.preview", "GET"):                "L   L   403 404 404 200 200",
    ("manage_connections.preview_html", "GET"):           "L   L   403 404 404 200 200",
    # the door: screen, scan, undo, search, counter (door staff of the event too); the report (managers)
    ("checkin.report", "GET"):                            "L   L   403 404 404 200 200",
    ("checkin.scan", "POST"):                             "L   L   200 404 404 200 200",
    ("checkin.screen", "GET"):                            "L   L   200 404 404 200 200",
    ("checkin.search", "GET"):                            "L   L   200 404 404 200 200",
    ("checkin.stats", "GET"):                             "L   L   200 404 404 200 200",
    ("checkin.undo", "POST"):                             "L   L   200 404 404 200 200",
    # the API (Bearer token; the attendee sends her order token, which is no API token)
    ("api.create_checkin", "POST"):                       "401 401 422 404 404 422 422",
    ("api.create_event", "POST"):                         "401 401 403 403 422 422 422",
    ("api.create_ticket_type", "POST"):                   "401 401 403 404 404 422 422",
    ("api.get_event", "GET"):                             "401 401 403 404 404 200 200",
    ("api.get_ticket_type", "GET"):                       "401 401 403 404 404 200 200",
    ("api.list_events", "GET"):                           "401 401 200 200 200 200 200",
    ("api.list_orders", "GET"):                           "401 401 403 404 404 200 200",
    ("api.list_ticket_types", "GET"):                     "401 401 403 404 404 200 200",
    ("api.list_tickets", "GET"):                          "401 401 403 404 404 200 200",
    ("api.openapi", "GET"):                               "200 200 200 200 200 200 200",
    ("api.update_event", "PATCH"):                        "401 401 403 404 404 200 200",
    ("api.update_ticket_type", "PATCH"):                  "401 401 403 404 404 200 200",
}

# Requested after every other change, in this order (each changes what follows it).
LAST = [
    "manage_events.delete_question", "manage_events.delete_ticket_type", "manage_registration.cancel_ticket",
    "manage_registration.cancel_order", "manage_payments.refund", "payments.release", "payments.cancel_order",
    "registration.cancel_ticket", "registration.cancel_order", "connections.delete_from_preferences",
    "connections.delete_profile", "waitlist.leave", "manage_events.cancel", "accounts.revoke_invitation",
    "accounts.remove_member", "accounts.revoke_token", "mailbox.clear", "accounts.logout",
]


def _cells(app):
    cells = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            cells.append((rule, method))
    return cells


def _order(cell):
    rule, method = cell
    if method == "GET":
        return (0, 0, rule.rule)
    if rule.endpoint in LAST:
        return (2, LAST.index(rule.endpoint), rule.rule)
    return (1, 0, rule.rule)


def test_every_route_has_a_row(app):
    have = {(rule.endpoint, method) for rule, method in _cells(app)}
    missing = sorted(have - MATRIX.keys())
    stale = sorted(MATRIX.keys() - have)
    assert not missing, f"routes without a row in the access matrix: {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"
    for key, row in MATRIX.items():
        assert len(row.split()) == len(ROLES), key


def _client_for(app, role: str):
    client = app.test_client()
    if role in EMAILS:
        page = client.get("/organizer/login")
        answer = client.post("/organizer/login", data={"csrf_token": csrf_from(page.data), "email": EMAILS[role],
                                                       "password": password_for(role)})
        assert answer.status_code == 303, (role, answer.status_code)
    client.csrf = csrf_from(client.get("/organizer/password/forgot").data)
    return client


def _answer(response) -> str:
    if response.status_code == 302 and "/organizer/login" in response.headers.get("Location", ""):
        return "L"
    return str(response.status_code)


def _request(client, role: str, world, rule, method: str) -> str:
    url = url_for_rule(rule, world, role)
    if rule.rule.startswith("/api/"):
        headers = {}
        if role == "attendee":
            headers["Authorization"] = f"Bearer {world.tokens['registration.ticket']}"  # not an API token
        elif role in world.api_tokens:
            headers["Authorization"] = f"Bearer {world.api_tokens[role]}"
        if method == "GET":
            return _answer(client.get(url, headers=headers))
        return _answer(client.open(url, method=method, json={}, headers=headers))
    if method == "GET":
        return _answer(client.get(url))
    return _answer(client.open(url, method=method, data={"csrf_token": client.csrf, **world.forms.get(rule.endpoint, {})},
                               headers={"X-CSRFToken": client.csrf}))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_column(app, role):
    with app.app_context():
        world = build_world()
        db.session.remove()
    client = _client_for(app, role)
    column = ROLES.index(role)
    got: dict[tuple[str, str], str] = {}
    for rule, method in sorted(_cells(app), key=_order):
        got[(rule.endpoint, method)] = _request(client, role, world, rule, method)
    if os.environ.get("EVENTSITE_MATRIX_DUMP"):  # to (re)write the table: what each role got
        with open(os.environ["EVENTSITE_MATRIX_DUMP"], "a") as dump:
            dump.writelines(f"{key[0]} {key[1]} {role} {got[key]}\n" for key in sorted(got))
    wrong = {key: (MATRIX.get(key, "? " * len(ROLES)).split()[column], answer)
             for key, answer in got.items() if MATRIX.get(key, "").split()[column:column + 1] != [answer]}
    assert not wrong, f"{role}: (endpoint, method): (expected, got): {wrong}"
