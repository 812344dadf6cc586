"""The organizer's event editor: dashboard, create, edit, publish, unpublish, cancel."""
from __future__ import annotations

import calendar
from datetime import timedelta

from sqlalchemy import select

from eventsite.accounts.models import Role
from eventsite.core.db import utcnow
from eventsite.events.models import Event, EventStatus
from eventsite.extensions import db
from tests.conftest import post_form
from tests.events.manage_helpers import (  # noqa: F401  (editor is a fixture)
    aware, create_event_via_form, described_by, editor, event_form_data, field_error, input_value, next_year,
    sign_in, text_of,
)
from tests.factories import make_event, make_organizer, make_ticket_type


def _last_sunday(year: int, month: int) -> int:
    return max(d for d in range(25, 32) if calendar.weekday(year, month, d) == calendar.SUNDAY)


def _event(slug: str) -> Event:
    return db.session.scalar(select(Event).where(Event.slug == slug))


# --- dashboard ----------------------------------------------------------------------------------

def test_dashboard_lists_her_events_upcoming_and_past_with_status_and_sales(app, editor, organizer):
    with app.app_context():
        org = organizer["organization_id"]
        soon = make_event(org, title="Negotiation Breakfast", slug="negotiation-breakfast", timezone="Europe/London",
                          starts_at=aware(utcnow().year + 1, 1, 15, 8, 0))
        make_ticket_type(soon, capacity=40, sold=12)
        make_ticket_type(soon, name="Supporter", capacity=10, sold=3, price_cents=2500)
        make_event(org, title="Board Readiness Draft", slug="board-draft", status=EventStatus.DRAFT)
        make_event(org, title="Mentoring Circle", slug="mentoring-circle",
                   starts_at=utcnow() - timedelta(days=5), ends_at=utcnow() - timedelta(days=5) + timedelta(hours=2))
        other = make_organizer("someone@else.org")
        make_event(other.memberships[0].organization_id, title="Someone Else's Gala", slug="gala")

    page = editor.get("/organizer/")
    assert page.status_code == 200
    text = text_of(page.data)
    upcoming, _, past = text.partition("Past")
    assert "Negotiation Breakfast" in upcoming and "Board Readiness Draft" in upcoming
    assert "Mentoring Circle" in past and "Mentoring Circle" not in upcoming
    assert "Someone Else's Gala" not in text
    # sold / capacity over both ticket types, the time in the event's own zone (08:00 London in January)
    assert "15 / 50 sold" in upcoming
    assert f"15 Jan {utcnow().year + 1}, 08:00" in upcoming and "GMT, Europe/London" in upcoming
    assert "Draft" in upcoming and "Published" in upcoming
    assert 'href="/organizer/events/new"' in page.get_data(as_text=True)


def test_dashboard_needs_a_login(client):
    response = client.get("/organizer/")
    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert "/organizer/login" in response.headers["Location"]


# --- create -------------------------------------------------------------------------------------

def test_create_event_converts_berlin_local_times_to_utc(app, editor, organizer):
    year, _ = next_year(6, 10)
    response = create_event_via_form(editor)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/organizer/events/summer-leadership-evening")

    with app.app_context():
        event = _event("summer-leadership-evening")
        assert event is not None and event.organization_id == organizer["organization_id"]
        assert event.status == EventStatus.DRAFT
        # 18:30 and 21:00 in Berlin in June (CEST, UTC+2)
        assert event.starts_at == aware(year, 6, 10, 16, 30)
        assert event.ends_at == aware(year, 6, 10, 19, 0)
        assert event.timezone == "Europe/Berlin" and event.currency == "EUR"
        assert event.venue_address == "Hauptstraße 1\n10115 Berlin"

    overview = editor.get(response.headers["Location"])
    text = text_of(overview.data)
    assert "Summer Leadership Evening" in text and "Draft" in text
    assert f"10 Jun {year}, 18:30 – 21:00 CEST, Europe/Berlin" in text
    assert "<strong>talks</strong>" in overview.get_data(as_text=True)  # the Markdown, rendered


def test_winter_times_use_winter_offset_and_registration_window(app, editor):
    year, starts = next_year(1, 20, 9, 0)
    _, opens = next_year(1, 1, 12, 0)
    response = create_event_via_form(editor, title="Winter Breakfast", starts_at=starts,
                                     ends_at=starts.replace("09:00", "11:00"), registration_opens_at=opens)
    assert response.status_code == 302
    with app.app_context():
        event = _event("winter-breakfast")
        assert event.starts_at == aware(year, 1, 20, 8, 0)  # CET, UTC+1
        assert event.registration_opens_at == aware(year, 1, 1, 11, 0)


def test_time_skipped_by_dst_is_refused_next_to_its_field(app, editor):
    year, _ = next_year(3, 1)
    last_sunday = _last_sunday(year, 3)  # Berlin's clocks jump from 02:00 to 03:00 that night
    starts = f"{year}-03-{last_sunday:02d}T02:30"
    response = create_event_via_form(editor, title="Night Owls", starts_at=starts, ends_at=f"{year}-03-{last_sunday:02d}T05:00")
    assert response.status_code == 422
    message = field_error(response.data, "starts_at")
    assert message and "does not exist in Europe/Berlin" in message and "03:30" in message
    assert input_value(response.data, "starts_at") == starts
    with app.app_context():
        assert _event("night-owls") is None


def test_time_that_happens_twice_takes_the_first_and_says_so(app, editor):
    year, _ = next_year(10, 1)
    last_sunday = _last_sunday(year, 10)  # Berlin's clocks go back from 03:00 to 02:00 that night
    response = create_event_via_form(editor, title="Late Session", starts_at=f"{year}-10-{last_sunday:02d}T02:30",
                                     ends_at=f"{year}-10-{last_sunday:02d}T06:00")
    assert response.status_code == 302
    with app.app_context():
        assert _event("late-session").starts_at == aware(year, 10, last_sunday, 0, 30)  # the first 02:30, CEST
    assert "happens twice in Europe/Berlin" in text_of(editor.get(response.headers["Location"]).data)


def test_validation_errors_shown_next_to_fields_with_values_kept(app, editor):
    _, starts = next_year(6, 10, 18, 30)
    response = create_event_via_form(
        editor, title="", summary="Keep this summary", slug="Not A Slug!", ends_at=starts.replace("18:30", "17:00"),
        online_url="zoom.example/room", timezone="Mars/Olympus",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "title") == "Give the event a title."
    assert "title-error" in described_by(html, "title")
    assert input_value(html, "summary") == "Keep this summary"
    assert input_value(html, "description").startswith("Join us for **talks**.")
    assert input_value(html, "timezone") == "Mars/Olympus"
    assert "Please correct the error below." in text_of(html)  # one form-level error: the title
    with app.app_context():
        assert db.session.scalar(select(Event.id)) is None

    # The form-level checks pass now: the service's rules come back next to their fields.
    response = create_event_via_form(
        editor, summary="Keep this summary", slug="Not A Slug!", ends_at=starts.replace("18:30", "17:00"),
        online_url="zoom.example/room", timezone="Mars/Olympus",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "lower-case letters" in field_error(html, "slug")
    assert field_error(html, "timezone").startswith("Choose a time zone from the list")
    assert "https://" in field_error(html, "online_url")
    assert input_value(html, "slug") == "Not A Slug!" and input_value(html, "online_url") == "zoom.example/room"

    response = create_event_via_form(editor, ends_at=starts.replace("18:30", "17:00"))
    assert field_error(response.data, "ends_at") == "The end must be after the start."


def test_slug_is_generated_unique_and_editable(app, editor, organizer):
    with app.app_context():
        make_event(organizer["organization_id"], title="Old", slug="summer-leadership-evening")
    response = create_event_via_form(editor)  # same title: the generated slug gets a suffix
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/summer-leadership-evening-2")

    response = create_event_via_form(editor, slug="summer-leadership-evening")
    assert response.status_code == 422
    assert field_error(response.data, "slug") == "This address is taken; choose another."
    response = create_event_via_form(editor, slug="new")  # would hide /organizer/events/new
    assert field_error(response.data, "slug") == "This address is taken; choose another."

    response = create_event_via_form(editor, slug="my-own-address")
    assert response.headers["Location"].endswith("/organizer/events/my-own-address")


def test_new_event_asks_which_organization_only_among_those_she_manages(app):
    with app.app_context():
        user = make_organizer("multi@example.org", name="Maya")
        own_org = user.memberships[0].organization_id
        helped = make_organizer("friend@example.org", name="Fay").memberships[0].organization_id
        door_only = make_organizer("door@example.org", name="Dora").memberships[0].organization_id
        from eventsite.accounts.models import Organization, User
        from eventsite.accounts.services import add_member
        maya = db.session.get(User, user.id)
        add_member(db.session.get(Organization, helped), maya, Role.ORGANIZER)
        add_member(db.session.get(Organization, door_only), maya, Role.CHECKIN)
        db.session.commit()
    c = app.test_client()
    sign_in(c, "multi@example.org")
    html = c.get("/organizer/events/new").get_data(as_text=True)
    assert 'name="organization_id"' in html
    assert f'value="{own_org}"' in html and f'value="{helped}"' in html and f'value="{door_only}"' not in html

    response = post_form(c, "/organizer/events/new", event_form_data(organization_id=str(door_only)))
    assert response.status_code == 422 and field_error(response.data, "organization_id")
    response = post_form(c, "/organizer/events/new", event_form_data(organization_id=str(helped)))
    assert response.status_code == 302
    with app.app_context():
        assert _event("summer-leadership-evening").organization_id == helped


def test_single_organization_is_not_asked(editor):
    assert 'name="organization_id"' not in editor.get("/organizer/events/new").get_data(as_text=True)


# --- edit ---------------------------------------------------------------------------------------

def test_edit_shows_local_times_and_saves_changes(app, editor, organizer):
    year = utcnow().year + 1
    with app.app_context():
        make_event(organizer["organization_id"], title="Spring Breakfast", slug="spring-breakfast",
                   timezone="America/New_York", starts_at=aware(year, 4, 2, 11, 30), ends_at=aware(year, 4, 2, 13, 0),
                   status=EventStatus.DRAFT)
    page = editor.get("/organizer/events/spring-breakfast/edit")
    assert page.status_code == 200
    assert input_value(page.data, "starts_at") == f"{year}-04-02T07:30"  # EDT, UTC-4
    assert input_value(page.data, "timezone") == "America/New_York"

    data = event_form_data(title="Spring Leadership Breakfast", slug="spring-leadership-breakfast",
                           starts_at=f"{year}-04-02T08:00", ends_at=f"{year}-04-02T10:00",
                           timezone="America/New_York", capacity="120", online_url="https://meet.example.org/spring")
    response = post_form(editor, "/organizer/events/spring-breakfast/edit", data)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/organizer/events/spring-leadership-breakfast")
    with app.app_context():
        event = _event("spring-leadership-breakfast")
        assert event.title == "Spring Leadership Breakfast"
        assert event.starts_at == aware(year, 4, 2, 12, 0) and event.ends_at == aware(year, 4, 2, 14, 0)
        assert event.capacity == 120 and event.online_url == "https://meet.example.org/spring"
        assert _event("spring-breakfast") is None

    # An error on edit keeps what she typed, and changes nothing.
    data["title"] = ""
    data["summary"] = "A changed summary"
    response = post_form(editor, "/organizer/events/spring-leadership-breakfast/edit", data)
    assert response.status_code == 422
    assert input_value(response.data, "summary") == "A changed summary"
    with app.app_context():
        assert _event("spring-leadership-breakfast").summary == "Talks and time to meet."


# --- publish, unpublish, cancel -----------------------------------------------------------------

def test_publish_makes_the_public_page_answer_and_unpublish_hides_it(app, editor):
    create_event_via_form(editor, slug="open-evening")
    assert editor.get("/events/open-evening").status_code == 404  # a draft is not public

    overview = editor.get("/organizer/events/open-evening")
    assert "Not public until you publish it" in text_of(overview.data)
    response = post_form(editor, "/organizer/events/open-evening/publish", {}, form_url="/organizer/events/open-evening")
    assert response.status_code == 302
    with app.app_context():
        assert _event("open-evening").status == EventStatus.PUBLISHED
    public = editor.get("/events/open-evening")
    assert public.status_code == 200 and "Summer Leadership Evening" in text_of(public.data)

    response = post_form(editor, "/organizer/events/open-evening/unpublish", {}, form_url="/organizer/events/open-evening")
    assert response.status_code == 302
    with app.app_context():
        assert _event("open-evening").status == EventStatus.DRAFT
    assert editor.get("/events/open-evening").status_code == 404


def test_state_changes_are_post_only_and_need_the_csrf_token(app, editor):
    create_event_via_form(editor, slug="guarded")
    assert editor.get("/organizer/events/guarded/publish").status_code == 405
    assert editor.post("/organizer/events/guarded/publish").status_code == 400  # no CSRF token
    with app.app_context():
        assert _event("guarded").status == EventStatus.DRAFT


def test_cancel_asks_for_confirmation_first(app, editor):
    create_event_via_form(editor, slug="to-cancel")
    post_form(editor, "/organizer/events/to-cancel/publish", {}, form_url="/organizer/events/to-cancel")

    confirm = editor.get("/organizer/events/to-cancel/cancel")
    text = text_of(confirm.data)
    assert "Cancel this event?" in text
    assert "Registration closes" in text and "cannot be undone" in text
    with app.app_context():
        assert _event("to-cancel").status == EventStatus.PUBLISHED  # looking at the question changes nothing

    response = post_form(editor, "/organizer/events/to-cancel/cancel", {})
    assert response.status_code == 302
    with app.app_context():
        assert _event("to-cancel").status == EventStatus.CANCELLED
    assert "The event is cancelled." in text_of(editor.get(response.headers["Location"]).data)

    # A cancelled event cannot come back.
    response = post_form(editor, "/organizer/events/to-cancel/publish", {}, form_url="/organizer/events/to-cancel")
    assert "cannot be published again" in text_of(editor.get(response.headers["Location"]).data)
    with app.app_context():
        assert _event("to-cancel").status == EventStatus.CANCELLED
