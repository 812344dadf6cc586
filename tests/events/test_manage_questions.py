"""Registration questions in the organizer editor."""
from __future__ import annotations

from sqlalchemy import select

from eventsite.events.models import EventStatus, Question, QuestionKind
from eventsite.extensions import db
from tests.conftest import post_form
from tests.events.manage_helpers import editor, field_error, input_value, text_of  # noqa: F401
from tests.factories import make_event

URL = "/organizer/events/circle/questions"


def _questions() -> list[Question]:
    return list(db.session.scalars(select(Question).order_by(Question.position, Question.id)))


def _setup(app, organizer):
    with app.app_context():
        make_event(organizer["organization_id"], slug="circle", status=EventStatus.DRAFT)


def test_add_choice_question_needs_two_options(app, editor, organizer):
    _setup(app, organizer)
    data = {"label": "Any dietary needs?", "kind": "single_choice", "options": "Vegetarian", "required": "y",
            "show_at_door": "y"}
    response = post_form(editor, URL + "/new", data)
    assert response.status_code == 422
    assert field_error(response.data, "options") == "A choice question needs at least two options, one per line."
    assert input_value(response.data, "label") == "Any dietary needs?"
    assert input_value(response.data, "options") == "Vegetarian"

    data["options"] = "Vegetarian\r\n  Vegan \r\n\r\nGluten-free"
    assert post_form(editor, URL + "/new", data).status_code == 302
    with app.app_context():
        [q] = _questions()
        assert (q.label, q.kind, q.options, q.required, q.show_at_door) == (
            "Any dietary needs?", QuestionKind.SINGLE_CHOICE, ["Vegetarian", "Vegan", "Gluten-free"], True, True)
    listing = text_of(editor.get(URL).data)
    assert "Any dietary needs?" in listing and "Vegetarian, Vegan, Gluten-free" in listing and "required" in listing


def test_duplicate_options_and_unknown_kind_are_refused(app, editor, organizer):
    _setup(app, organizer)
    response = post_form(editor, URL + "/new", {"label": "Pick", "kind": "multiple_choice", "options": "A\nA"})
    assert field_error(response.data, "options") == "Each option must be different."
    response = post_form(editor, URL + "/new", {"label": "Pick", "kind": "essay", "options": ""})
    assert response.status_code == 422 and field_error(response.data, "kind")
    response = post_form(editor, URL + "/new", {"label": "", "kind": "short_text"})
    assert field_error(response.data, "label") == "Write the question."
    with app.app_context():
        assert _questions() == []


def test_edit_reorder_and_delete_questions(app, editor, organizer):
    _setup(app, organizer)
    post_form(editor, URL + "/new", {"label": "What brings you here?", "kind": "short_text", "options": "ignored\nlines"})
    post_form(editor, URL + "/new", {"label": "Company", "kind": "short_text"})
    post_form(editor, URL + "/new", {"label": "Happy to be photographed", "kind": "checkbox"})
    with app.app_context():
        first, second, third = _questions()
        assert first.options == []  # options only belong to choice questions
        ids = first.id, second.id, third.id

    edit = f"{URL}/{ids[1]}/edit"
    page = editor.get(edit)
    assert input_value(page.data, "label") == "Company"
    response = post_form(editor, edit, {"label": "Company or organization", "kind": "multiple_choice",
                                        "options": "Startup\nCorporate\nNon-profit", "required": "y"})
    assert response.status_code == 302
    with app.app_context():
        q = db.session.get(Question, ids[1])
        assert (q.label, q.kind, q.options, q.required) == (
            "Company or organization", QuestionKind.MULTIPLE_CHOICE, ["Startup", "Corporate", "Non-profit"], True)

    post_form(editor, f"{URL}/{ids[2]}/move", {"direction": "up"}, form_url=URL)
    with app.app_context():
        assert [q.id for q in _questions()] == [ids[0], ids[2], ids[1]]
    post_form(editor, f"{URL}/{ids[0]}/move", {"direction": "down"}, form_url=URL)
    with app.app_context():
        assert [q.id for q in _questions()] == [ids[2], ids[0], ids[1]]

    post_form(editor, f"{URL}/{ids[0]}/delete", {}, form_url=URL)
    with app.app_context():
        assert [q.id for q in _questions()] == [ids[2], ids[1]]
    assert "What brings you here?" not in text_of(editor.get(URL).data)
