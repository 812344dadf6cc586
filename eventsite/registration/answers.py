"""Her answers to the event's questions as text: one way for the organizer's pages, the CSV, the
confirmation email, the ticket page and the door."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eventsite.events.models import Event, QuestionKind

_YES = (True, "y", "yes", "on", "true", "1")


def format_answer(value: Any, kind: QuestionKind | None = None) -> str:
    """'' when unanswered; 'Yes'/'No' for a checkbox; choices joined with commas; else the text."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool) or kind == QuestionKind.CHECKBOX:
        return "Yes" if value in _YES else "No"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value if v not in (None, ""))
    return str(value)


@dataclass(frozen=True)
class AnswerLine:
    label: str
    text: str
    deleted: bool = False  # the question was deleted after she answered


def answer_lines(event: Event, answers: Mapping[str, Any] | None) -> list[AnswerLine]:
    """Every current question with her answer (blank when none), then answers to deleted questions."""
    answers = dict(answers or {})
    lines = [AnswerLine(q.label, format_answer(answers.pop(str(q.id), None), q.kind)) for q in event.questions]
    for key in sorted(answers, key=lambda k: (len(k), k)):
        lines.append(AnswerLine(f"Deleted question #{key}", format_answer(answers[key]), deleted=True))
    return lines


def answered_lines(event: Event, answers: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(question label, answer) for the current questions she answered, in the event's order."""
    return [(line.label, line.text) for line in answer_lines(event, answers) if line.text and not line.deleted]
