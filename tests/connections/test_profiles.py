"""Networking profiles: on the registration form (optional, collapsed), on the ticket page, the limits
on what she types, and deleting one for good."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from eventsite.connections import cleaning, event_settings
from eventsite.connections.models import NetworkingProfile
from eventsite.core.errors import ValidationError
from eventsite.extensions import db
from eventsite.registration.models import Order
from tests.conftest import csrf_from
from tests.connections.conftest import TAGS, in_app, page_text
from tests.factories import make_event, make_organizer, make_ticket_type
from tests.registration.views_helpers import (
    field_error,
    field_names,
    html_of,
    register,
    token_from,
)


@pytest.fixture
def upcoming(app):
    """An event two weeks ahead, open for registration, with the organizer's tag list."""
    def build():
        org = make_organizer("host@example.org").memberships[0].organization_id
        ev = make_event(org, title="Leadership Breakfast", slug="leadership-breakfast")
        tt = make_ticket_type(ev, name="Breakfast", capacity=50)
        event_settings.update_settings(ev, enabled=True, audience="checked_in", tags="\n".join(TAGS),
                                 steps={"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)})
        db.session.commit()
        return {"slug": ev.slug, "tt": tt.id, "event_id": ev.id}
    return in_app(app, build)


def base(upcoming, **extra) -> dict:
    return {"name": "Dana Okafor", "email": "dana@example.org", f"quantity-{upcoming['tt']}": "1", **extra}


def profiles(app) -> list[NetworkingProfile]:
    def read():
        rows = list(db.session.scalars(select(NetworkingProfile).order_by(NetworkingProfile.id)))
        for r in rows:
            db.session.expunge(r)
        return rows
    return in_app(app, read)


def test_the_registration_form_has_an_optional_collapsed_profile_section(client, upcoming):
    html = html_of(client.get(f"/events/{upcoming['slug']}"))
    names = field_names(html)
    assert {"networking-intro", "networking-company", "networking-offers", "networking-offers_text",
            "networking-asks", "networking-asks_text", "networking-linkedin_url", "networking-website_url",
            "networking-consent"} <= names
    details = re.search(r'<details class="networking-section" id="networking"( open)?>', html)
    assert details and details.group(1) is None  # collapsed by default
    for tag in TAGS:
        assert f'value="{tag}"' in html
    assert 'for="networking-consent"' in html and "Suggest me to other attendees after the event" in html


def test_registering_with_a_profile_stores_it_with_her_ticket(app, client, upcoming):
    response = register(client, upcoming["slug"], base(upcoming, **{
        "networking-intro": "  Head of   people operations ",
        "networking-company": "Okafor & Co",
        "networking-offers": ["Negotiating a raise", "Hiring"],
        "networking-offers_text": "I have negotiated three raises.",
        "networking-asks": ["Board governance"],
        "networking-linkedin_url": "linkedin.com/in/dana",
        "networking-consent": "y",
    }))
    assert response.status_code == 303
    token = token_from(response)
    [p] = profiles(app)
    assert (p.email, p.name, p.intro, p.company) == ("dana@example.org", "Dana Okafor", "Head of people operations", "Okafor & Co")
    assert p.offers == ["Negotiating a raise", "Hiring"] and p.asks == ["Board governance"]
    assert p.linkedin_url == "https://linkedin.com/in/dana" and p.consent_to_suggest and p.consented_at is not None
    order_ticket = in_app(app, lambda: db.session.scalar(select(Order).where(Order.token == token)).tickets[0].id)
    assert p.ticket_id == order_ticket
    # Her ticket page links to the profile.
    ticket = client.get(f"/tickets/{token}")
    assert "Your networking profile" in page_text(ticket)
    assert f'href="/tickets/{token}/networking"' in html_of(ticket)
    assert "You agreed to be suggested to other attendees" in page_text(ticket)


def test_leaving_the_section_alone_stores_nothing(app, client, upcoming):
    response = register(client, upcoming["slug"], base(upcoming))
    assert response.status_code == 303 and profiles(app) == []
    assert "Fill in your networking profile" in page_text(client.get(f"/tickets/{token_from(response)}"))


@pytest.mark.parametrize("field, value, message", [
    ("networking-intro", "<b>Boss</b> of everything", "Plain text only"),
    ("networking-intro", "x" * 161, "Keep it to 160 characters"),
    ("networking-offers_text", "see [my site](http://spam.example)", "Plain text only"),
    ("networking-asks_text", "y" * 6000, "far too long"),
    ("networking-website_url", "javascript:alert(1)", "https://"),
    ("networking-website_url", "https://exa mple.org", "web address"),
    ("networking-linkedin_url", "https://evil.example/in/dana", "LinkedIn"),
    ("networking-offers", "Astrology", "Choose from the list"),
])
def test_bad_profile_input_is_refused_next_to_its_field_and_nothing_is_written(app, client, upcoming, field, value, message):
    response = register(client, upcoming["slug"], base(upcoming, **{field: value, "networking-consent": "y"}))
    assert response.status_code == 422
    html = html_of(response)
    assert message in (field_error(html, field) or "")
    assert re.search(r'<details class="networking-section" id="networking" open>', html)  # opened to show it
    assert in_app(app, lambda: db.session.scalar(select(func.count(Order.id)))) == 0 and profiles(app) == []
    assert "<b>Boss</b>" not in html  # what she typed comes back escaped


def test_too_many_tags(app, client, upcoming):
    response = register(client, upcoming["slug"], base(upcoming, **{"networking-asks": TAGS}))
    assert response.status_code == 422
    assert "at most 5" in field_error(html_of(response), "networking-asks")


def test_editing_and_deleting_from_the_ticket_page(app, client, upcoming):
    token = token_from(register(client, upcoming["slug"], base(upcoming)))
    url = f"/tickets/{token}/networking"
    page = client.get(url)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    csrf = csrf_from(page.data)
    bad = client.post(url, data={"csrf_token": csrf, "intro": "<script>x</script>", "website_url": "ftp://x.org"})
    assert bad.status_code == 422 and profiles(app) == []
    assert "Plain text only" in field_error(html_of(bad), "intro")
    assert "http" in field_error(html_of(bad), "website_url")
    ok = client.post(url, data={"csrf_token": csrf, "intro": "Founder", "asks": ["Fundraising"], "consent": "y"})
    assert ok.status_code == 303
    [p] = profiles(app)
    assert p.intro == "Founder" and p.asks == ["Fundraising"] and p.consent_to_suggest
    page = client.get(url)
    assert 'value="Founder"' in html_of(page) and "Your networking profile is saved." in page_text(page)
    # Withdraw consent by unticking it.
    client.post(url, data={"csrf_token": csrf, "intro": "Founder"})
    assert profiles(app)[0].consent_to_suggest is False and profiles(app)[0].consented_at is None
    # Delete: a confirmation page, then gone from the database.
    confirm = client.get(url + "/delete")
    assert "Delete your networking profile?" in page_text(confirm)
    assert len(profiles(app)) == 1
    done = client.post(url + "/delete", data={"csrf_token": csrf})
    assert done.status_code == 303 and done.headers["Location"] == f"/tickets/{token}"
    assert profiles(app) == []
    assert client.get("/tickets/UNKNOWNTOKENUNKNOWNTOKEN12/networking").status_code == 404


def test_a_changed_tag_list_shows_at_once_and_posted_values_are_kept(app, client, upcoming):
    """The fresh section is rendered once per process and kept: a new tag list is a new page at once,
    and a form posted back with errors shows what she typed, not the kept fresh one."""
    slug = upcoming["slug"]
    before = html_of(client.get(f"/events/{slug}"))
    assert 'value="Negotiating a raise"' in before and 'value="Climate tech"' not in before

    def retag():
        from eventsite.events.models import Event

        event_settings.update_settings(db.session.get(Event, upcoming["event_id"]), enabled=True, audience="checked_in",
                                       tags="Climate tech\nMentoring others",
                                       steps={"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)})
        db.session.commit()
    in_app(app, retag)
    html = html_of(client.get(f"/events/{slug}"))
    assert 'value="Climate tech"' in html and 'value="Mentoring others"' in html
    assert not any(f'value="{tag}"' in html for tag in TAGS)

    page = client.get(f"/events/{slug}")
    posted = client.post(f"/events/{slug}/register", data={
        "csrf_token": csrf_from(page.data), "name": "Dana Okafor", "email": "not-an-email",
        f"quantity-{upcoming['tt']}": "1", "networking-intro": "Founder of a small studio",
        "networking-offers": "Climate tech"})
    again = html_of(posted)
    assert posted.status_code == 422 and "Founder of a small studio" in again
    assert re.search(r'<input[^>]*checked[^>]*value="Climate tech"|<input[^>]*value="Climate tech"[^>]*checked', again)
    assert '<details class="networking-section" id="networking" open>' in again
    fresh = html_of(client.get(f"/events/{slug}"))
    assert "Founder of a small studio" not in fresh and "checked" not in fresh.split('id="networking"')[1].split("</details>")[0]


def test_no_section_when_the_organizer_turned_follow_ups_off(app, client, upcoming):
    def off():
        from eventsite.events.models import Event

        event_settings.update_settings(db.session.get(Event, upcoming["event_id"]), enabled=False, audience="checked_in",
                                 tags="", steps={"day_after": (True, 1), "keep_in_touch": (True, 30), "reconnect": (True, 90)})
        db.session.commit()
    in_app(app, off)
    html = html_of(client.get(f"/events/{upcoming['slug']}"))
    assert not any(n.startswith("networking-") for n in field_names(html))
    token = token_from(register(client, upcoming["slug"], base(upcoming, **{"networking-intro": "ignored"})))
    assert profiles(app) == []
    assert "Your networking profile" not in page_text(client.get(f"/tickets/{token}"))


def test_the_services_clean_what_she_types(ctx):
    errors: dict[str, str] = {}
    assert cleaning.clean_text("  a\n\tb  ", "f", 10, errors) == "a b" and errors == {}
    cleaning.clean_text("a\x00b", "f", 10, errors)
    assert "control" in errors["f"]
    for good, expected in [("www.example.org/me", "https://www.example.org/me"), ("http://example.org", "http://example.org")]:
        e: dict[str, str] = {}
        assert cleaning.clean_url(good, "u", e) == expected and e == {}
    for bad in ["javascript:alert(1)", "data:text/html,x", "https://user@example.org", "https://localhost", "https://a b.org",
                "http://" + "a" * 300 + ".org", 'https://example.org/"onmouseover=x']:
        e = {}
        assert cleaning.clean_url(bad, "u", e) == "" and "u" in e, bad
    with pytest.raises(ValidationError) as info:
        event_settings.update_settings(
            make_event(make_organizer().memberships[0].organization_id), enabled=True, audience="nobody",
            tags="Fine\n<b>bold</b>", steps={"day_after": (True, 40), "keep_in_touch": (True, 30), "reconnect": (True, 0)},
            send_hour=25)
    errors = info.value.errors
    assert set(errors) == {"audience", "tags", "keep_in_touch_days", "reconnect_days", "send_hour"}
    assert "must come after" in errors["keep_in_touch_days"]
