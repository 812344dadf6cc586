"""Helpers for the keep-in-touch page tests: reading the outbox, snapshots of what a click could
change, finding links in emails, and posting a page's form like a browser."""
from __future__ import annotations

from sqlalchemy import func, select

from eventsite.connections.models import Introduction, NetworkingProfile
from eventsite.core.mail.models import OutboxMessage
from eventsite.extensions import db
from tests.conftest import csrf_from
from tests.connections.conftest import in_app, links_in, render_queued


def outbox(app, to: str | None = None) -> list[dict]:
    """The messages (to `to`), their content rendered as the worker would (`render_queued`)."""
    def read():
        render_queued()
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if to:
            query = query.where(OutboxMessage.to_addr.contains(to))
        return [{"key": m.key, "text": m.text_body, "html": m.html_body, "subject": m.subject}
                for m in db.session.scalars(query)]
    return in_app(app, read)


def state(app) -> dict:
    """Everything a click could change."""
    def read():
        return {
            "intros": [(i.first_id, i.second_id, i.status.value, i.first_outcome, i.second_outcome)
                       for i in db.session.scalars(select(Introduction).order_by(Introduction.id))],
            "outbox": db.session.scalar(select(func.count(OutboxMessage.id))),
            "profiles": [(p.id, p.consent_to_suggest, p.unsubscribed_at)
                         for p in db.session.scalars(select(NetworkingProfile).order_by(NetworkingProfile.id))],
        }
    return in_app(app, read)


def request_link(app, who: dict, target_name: str) -> str:
    """The "I'd like an introduction" link to `target_name` in `who`'s day-after email."""
    mail = next(m for m in outbox(app, who["email"]) if m["key"].startswith("followup:day_after"))
    blocks = mail["text"].split("\n* ")
    block = next(b for b in blocks if b.startswith(target_name))
    return links_in(block, "/keep-in-touch/introduce/")[0]


def post(client, url: str, data: dict | None = None):
    """GET the page, then POST its form like a browser (a page without a form: the session's token)."""
    page = client.get(url)
    if b'name="csrf_token"' in page.data:
        client.csrf = csrf_from(page.data)
    return client.post(url, data={"csrf_token": getattr(client, "csrf", ""), **(data or {})})


