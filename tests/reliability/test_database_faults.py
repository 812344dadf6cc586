"""Connections cut while the app serves (PostgreSQL): a clean 503, recovery without a restart, and
no half-written order.

The app runs in the suite's live server (a threaded WSGI server in this process, with the app's
real connection pool). Faults are injected with `pg_terminate_backend` on this test database's
connections only; the shared PostgreSQL server itself is never restarted.
"""
from __future__ import annotations

import re
import threading
import time
from collections import Counter

import psycopg
import pytest
import requests
from sqlalchemy import func, select

from eventsite.core.mail.models import OutboxMessage
from eventsite.events.models import Event, TicketType
from eventsite.extensions import db
from eventsite.registration.models import Order, Ticket
from tests.conftest import csrf_from
from tests.factories import make_event, make_organizer, make_ticket_type
from tests.reliability.conftest import received, wait_until

pytestmark = pytest.mark.postgres_only

TERMINATE = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
FRIENDLY = "We could not reach our database for a moment"


def _plain_url(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def shop(app):
    """A published event with a free ticket type (capacity 500) and its organizer's API token."""
    from eventsite.accounts.services import create_api_token

    with app.app_context():
        user = make_organizer("faults@example.org")
        event = make_event(user.memberships[0].organization_id, capacity=500)
        tt = make_ticket_type(event, capacity=500)
        _, token = create_api_token(user, "faults")
        db.session.commit()
        info = {"slug": event.slug, "event_id": event.id, "type_id": tt.id, "token": token}
        db.session.remove()
    return info


class Visitor:
    """A person with a browser session: loads the event page, posts the registration form."""

    def __init__(self, base: str, shop: dict):
        self.base, self.shop = base, shop
        self.http = requests.Session()
        self.csrf: str | None = None

    def open_page(self) -> requests.Response:
        page = self.http.get(f"{self.base}/events/{self.shop['slug']}", timeout=30)
        if page.status_code == 200:
            self.csrf = csrf_from(page.text)
        return page

    def register(self, email: str) -> requests.Response:
        if self.csrf is None:
            self.open_page()
        data = {"csrf_token": self.csrf, "name": "Grace Hopper", "email": email,
                f"quantity-{self.shop['type_id']}": "1"}
        return self.http.post(f"{self.base}/events/{self.shop['slug']}/register", data=data,
                              allow_redirects=False, timeout=30)


def _blocked_backend(conn: psycopg.Connection) -> bool:
    """Is some other backend of this database waiting for a lock (our request, parked)?"""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
    ).fetchone()
    return row[0] > 0


def _in_flight(base_call, lock_sql: str, params: tuple, app) -> tuple[requests.Response, int]:
    """Run `base_call()` in a thread while `lock_sql` parks it on a lock, then cut every other
    connection of this database; return the response and how many backends were terminated."""
    result: dict = {}
    with psycopg.connect(_plain_url(app)) as locker:
        locker.execute(lock_sql, params)
        thread = threading.Thread(target=lambda: result.update(response=base_call()))
        thread.start()
        assert wait_until(lambda: _blocked_backend(locker), timeout=10), "the request never reached the lock"
        terminated = locker.execute(TERMINATE).fetchone()[0]
        locker.rollback()
    thread.join(30)
    return result["response"], terminated


def _half_written_orders(app) -> list[str]:
    """Orders without tickets or without their confirmation email, and seat counters that disagree."""
    problems = []
    with app.app_context():
        keys = set(db.session.scalars(select(OutboxMessage.key)))
        for order in db.session.scalars(select(Order)):
            if not order.tickets:
                problems.append(f"order {order.id} has no tickets")
            if f"confirmation:{order.id}" not in keys:
                problems.append(f"order {order.id} has no confirmation email")
        tickets = db.session.scalar(select(func.count(Ticket.id)))
        for tt in db.session.scalars(select(TicketType)):
            if tt.sold != tickets:
                problems.append(f"ticket type {tt.id}: sold {tt.sold}, tickets {tickets}")
        for event in db.session.scalars(select(Event)):
            if event.sold != tickets:
                problems.append(f"event {event.id}: sold {event.sold}, tickets {tickets}")
        db.session.remove()
    return problems


def _orders(app) -> int:
    with app.app_context():
        n = db.session.scalar(select(func.count(Order.id)))
        db.session.remove()
    return n


def test_a_registration_whose_connection_is_cut_gets_a_friendly_503_and_leaves_nothing(app, live_server, shop):
    visitor = Visitor(live_server, shop)
    assert visitor.open_page().status_code == 200

    # The registration waits on the ticket type's row lock (its seat claim) when the cut comes.
    response, terminated = _in_flight(
        lambda: visitor.register("grace@example.org"),
        "SELECT id FROM ticket_types WHERE id = %s FOR UPDATE", (shop["type_id"],), app,
    )
    assert terminated >= 1
    assert response.status_code == 503, response.text[:500]
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Retry-After"] == "5"
    assert FRIENDLY in response.text and "Back in a moment" in response.text
    assert _orders(app) == 0 and _half_written_orders(app) == []

    # The app recovers by itself: the pool replaces the dead connections (pre-ping).
    again = visitor.register("grace@example.org")
    assert again.status_code == 303, again.text[:500]
    assert re.search(r"/tickets/[A-Z0-9]+$", again.headers["Location"])
    assert _orders(app) == 1 and _half_written_orders(app) == []


def test_an_api_request_whose_connection_is_cut_gets_a_json_503_then_recovers(app, live_server, shop):
    url = f"{live_server}/api/v1/events/{shop['slug']}"
    headers = {"Authorization": f"Bearer {shop['token']}"}
    assert requests.get(url, headers=headers, timeout=30).status_code == 200

    response, _ = _in_flight(
        lambda: requests.get(url, headers=headers, timeout=30),
        "LOCK TABLE events IN ACCESS EXCLUSIVE MODE", (), app,
    )
    assert response.status_code == 503, response.text[:500]
    assert response.json()["error"]["code"] == "database_unavailable"

    for _ in range(5):
        assert requests.get(url, headers=headers, timeout=30).status_code == 200


def test_connections_cut_again_and_again_under_load_never_give_a_500_or_half_an_order(app, live_server, shop):
    """Four visitors register over and over while every connection is cut every 0.3 s."""
    outcomes: Counter = Counter()
    registered: list[str] = []  # ticket page links she was sent to
    stop = threading.Event()
    lock = threading.Lock()

    def visitor_loop(n: int) -> None:
        visitor = Visitor(live_server, shop)
        i = 0
        while not stop.is_set():
            i += 1
            page = visitor.open_page()
            with lock:
                outcomes[f"GET {page.status_code}"] += 1
            if page.status_code != 200:
                continue
            response = visitor.register(f"v{n}-{i}@example.org")
            with lock:
                outcomes[f"POST {response.status_code}"] += 1
                if response.status_code == 303:
                    registered.append(response.headers["Location"])

    threads = [threading.Thread(target=visitor_loop, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    cuts = 0
    with psycopg.connect(_plain_url(app), autocommit=True) as admin:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            time.sleep(0.3)
            cuts += admin.execute(TERMINATE).fetchone()[0]
    stop.set()
    for t in threads:
        t.join(30)

    print(f"\n{cuts} connections cut; outcomes {dict(outcomes)}")
    assert cuts > 0
    assert set(outcomes) <= {"GET 200", "GET 503", "POST 303", "POST 503"}, outcomes
    assert outcomes["POST 303"] > 0
    # Every registration she was told about exists, whole; no order is half-written.
    assert _orders(app) >= len(registered)
    assert _half_written_orders(app) == []
    # And the app serves normally again.
    visitor = Visitor(live_server, shop)
    for i in range(3):
        assert visitor.register(f"after-{i}@example.org").status_code == 303
        visitor.open_page()
    assert _half_written_orders(app) == []


def test_the_worker_outlives_cut_connections_and_still_delivers_everything(app, mailbox, start_worker):
    from eventsite.core.mail.models import OutboxStatus
    from tests.reliability.conftest import outbox_rows, queue_emails

    queue_emails(app, 200, prefix="cut")
    worker = start_worker(mailbox.url, lease=2.0, batch=20)
    assert wait_until(lambda: len(received(mailbox)) > 0, timeout=20), worker.log()
    cuts = 0
    with psycopg.connect(_plain_url(app), autocommit=True) as admin:
        for _ in range(10):
            cuts += admin.execute(TERMINATE).fetchone()[0]
            time.sleep(0.15)
    assert cuts > 0
    everyone = {f"p{i}@example.org" for i in range(200)}
    assert wait_until(lambda: {m.rcpt_tos[0] for m in received(mailbox)} >= everyone, timeout=40, interval=0.1), (
        worker.log())
    assert wait_until(lambda: all(r.status == OutboxStatus.SENT for r in outbox_rows(app)), timeout=10, interval=0.2)
    assert worker.alive(), worker.log()
    assert worker.terminate() == 0, worker.log()
    assert "this round failed" in worker.log()  # the cuts did hit it, and it carried on
    recipients = Counter(m.rcpt_tos[0] for m in received(mailbox))
    assert set(recipients) == everyone
    # A cut between the server's 250 and the "sent" commit repeats that one message; no more.
    assert sum(recipients.values()) - 200 <= cuts
