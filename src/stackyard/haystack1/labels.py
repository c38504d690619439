"""Haystack 1.x labels: what `POST /feedback` takes, how a label is kept as feedback, and 1.x's SQuAD export and
accuracy of them.

A label is refused where 1.x refused it (unknown fields, a missing verdict, an origin 1.x did not know, an answer
that contradicts `no_answer`), so what is stored is what 1.x would have stored. Labels kept by earlier Stackyard
versions were not checked, so stored labels are read without trusting their shape.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, StrictFloat, model_validator
from pydantic.config import JsonDict

from stackyard.json_types import Integer
from stackyard.store import Feedback

USER_FEEDBACK = "user-feedback"


def _numbers_are_text_too(schema: JsonDict) -> None:
    # The OpenAPI document says what the model takes: a number where text is expected (not an enumerated one).
    def widen(node: JsonValue) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and "enum" not in node and "const" not in node:
                node["type"] = ["string", "number"]
            for value in node.values():
                widen(value)
        elif isinstance(node, list):
            for value in node:
                widen(value)

    widen(schema.get("properties"))


class _Shape(BaseModel):
    # 1.x's pydantic (v1) refused unknown fields and turned numbers into text where text was expected.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, json_schema_extra=_numbers_are_text_too)


class Span(_Shape):
    start: Integer
    end: Integer


class TableCell(_Shape):
    row: Integer
    col: Integer


class LabelDocument(_Shape):
    content: str
    content_type: Literal["text", "table", "image", "audio"] = "text"
    id: str | None = None
    score: StrictFloat | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    embedding: list[StrictFloat] | None = None
    id_hash_keys: list[str] | None = None


class LabelAnswer(_Shape):
    answer: str
    type: Literal["generative", "extractive", "other"] = "extractive"
    score: StrictFloat | None = None
    context: str | None = None
    offsets_in_document: list[Span] | list[TableCell] | None = None
    offsets_in_context: list[Span] | list[TableCell] | None = None
    document_ids: list[str] | None = None
    meta: dict[str, Any] | None = None


class Label(_Shape):
    """A 1.x label (`CreateLabelSerialized`): a verdict on an answer and the document it came from."""

    id: str | None = None
    query: str
    document: LabelDocument
    is_correct_answer: StrictBool
    is_correct_document: StrictBool
    origin: Literal["user-feedback", "gold-label"]
    answer: LabelAnswer | None = None
    no_answer: StrictBool | None = None
    pipeline_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    meta: dict[str, Any] | None = None
    filters: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _answer_agrees_with_no_answer(self) -> Label:
        # 1.x's Label raised on these (an answer 500); they are the sender's mistake, so a 422 here.
        if self.answer is None:
            return self
        empty = self.answer.answer == ""
        if self.no_answer is True and (not empty or self.answer.context):
            raise ValueError("'no_answer' is true, but the label has an answer")
        if self.no_answer is False and empty:
            raise ValueError("'no_answer' is false, but the answer is empty")
        return self

    def stored(self) -> dict[str, Any]:
        """The label as 1.x kept it: a new id when none was sent, the time it was made, `no_answer` worked out."""
        label = self.model_dump()
        label["id"] = self.id or str(uuid.uuid4())
        label["created_at"] = self.created_at or datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        label["meta"] = self.meta or {}
        if self.no_answer is None and self.answer is not None:
            label["no_answer"] = self.answer.answer == ""
        return label


def feedback_from_label(label: dict[str, Any], pipeline: str, revision: int | None, actor: str) -> Feedback:
    """A stored 1.x label as feedback; the whole label is kept in `meta["label"]`.

    The verdict counted per revision is the answer's, or the document's for a label without an answer.
    """
    answer = _object(label.get("answer"))
    document = _object(label.get("document"))
    verdict = label.get("is_correct_answer") if answer else label.get("is_correct_document")
    return Feedback(
        pipeline=pipeline,
        revision=revision,
        query=str(label.get("query") or ""),
        is_correct=bool(verdict),
        answer=_text(answer.get("answer")),
        document_id=_text(document.get("id")),
        comment="",
        meta={"label": label},
        actor=actor,
    )


def label_of(record: Feedback) -> dict[str, Any]:
    """Feedback as a 1.x label: the label as sent through `POST /feedback`, or one made from the record."""
    stored = record.meta.get("label")
    label: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
    label.setdefault("id", str(record.id))
    label.setdefault("query", record.query)
    label.setdefault("document", {"id": record.document_id, "content": None, "content_type": "text", "meta": {}})
    label.setdefault("is_correct_answer", record.is_correct)
    label.setdefault("is_correct_document", record.is_correct)
    label.setdefault("origin", USER_FEEDBACK)
    label.setdefault("answer", {"answer": record.answer, "type": "generative"} if record.answer else None)
    label.setdefault("no_answer", record.answer is None)
    label.setdefault("pipeline_id", record.pipeline)
    label.setdefault("created_at", record.created_at.isoformat() if record.created_at else None)
    label.setdefault("meta", {key: value for key, value in record.meta.items() if key != "label"})
    return label


def is_user_feedback(label: dict[str, Any]) -> bool:
    """Whether 1.x counted the label as feedback (`DELETE /feedback`, the export, the accuracy) or kept it apart."""
    return label.get("origin") == USER_FEEDBACK


def squad_export(
    labels: list[dict[str, Any]], context_size: int, full_document_context: bool, only_positive_labels: bool
) -> dict[str, Any]:
    """User feedback as SQuAD JSON, chosen and cut as 1.x `GET /export-feedback` did.

    1.x exported user feedback only: with `only_positive_labels` the labels with a correct answer, otherwise all
    but those with a correct document and a wrong answer (neither a SQuAD answer nor an impossible question). A
    label with both wrong is an impossible question. Labels without document text (verdicts given through
    Stackyard's own feedback route) cannot be exported and are left out.
    """
    data = []
    for label in labels:
        answer_ok, document_ok = label.get("is_correct_answer"), label.get("is_correct_document")
        if not is_user_feedback(label):
            continue
        if only_positive_labels and answer_ok is not True:
            continue
        if not only_positive_labels and document_ok is True and answer_ok is False:
            continue
        document = _object(label.get("document"))
        text = document.get("content")
        if not isinstance(text, str):
            continue
        answer = _object(label.get("answer"))
        answer_text = _text(answer.get("answer")) or ""
        start = _answer_start(answer, text, answer_text)
        if full_document_context:
            context, answer_start = text, start
        else:
            context, answer_start = _window(text, start, answer_text, context_size)
        impossible = answer_ok is False and document_ok is False
        question = {
            "question": label.get("query"),
            "id": label.get("id"),
            "is_impossible": impossible,
            "answers": [] if impossible else [{"text": answer_text, "answer_start": answer_start}],
        }
        data.append({"paragraphs": [{"context": context, "id": document.get("id"), "qas": [question]}]})
    return {"data": data}


def _window(text: str, start: int, answer_text: str, context_size: int) -> tuple[str, int]:
    """`context_size` characters around the answer, as 1.x cut them, and where the answer starts in them.

    Each side gets half of what the answer leaves; what one side lacks at the document's start or end is taken
    on the other side.
    """
    around = max(int((context_size - len(answer_text)) / 2), 0)
    end_of_answer = start + len(answer_text)
    lacking_before = max(around - start, 0)
    lacking_after = max(end_of_answer + around - len(text), 0)
    begin = max(start - around - lacking_after, 0)
    end = min(end_of_answer + around + lacking_before, len(text))
    return text[begin:end], start - begin


def feedback_accuracy(labels: list[dict[str, Any]], filters: dict[str, Any]) -> dict[str, Any]:
    """1.x `POST /eval-feedback`: the share of correct answers and documents among user feedback.

    `filters` name label fields, each with a value or a list of accepted values, as 1.x's label filters did.
    """
    chosen = [
        label
        for label in labels
        if is_user_feedback(label)
        and all(label.get(key) in (wanted if isinstance(wanted, list) else [wanted]) for key, wanted in filters.items())
    ]
    if not chosen:
        return {"answer_accuracy": None, "document_accuracy": None, "n_feedback": 0}
    count = len(chosen)
    return {
        "answer_accuracy": sum(label.get("is_correct_answer") is True for label in chosen) / count,
        "document_accuracy": sum(label.get("is_correct_document") is True for label in chosen) / count,
        "n_feedback": count,
    }


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _answer_start(answer: dict[str, Any], text: str, answer_text: str) -> int:
    """The answer's first offset in the document (a table cell's row, as in 1.x); without one, where it is found."""
    offsets = answer.get("offsets_in_document")
    first = _object(offsets[0]) if isinstance(offsets, list) and offsets else {}
    start = first.get("start", first.get("row"))
    return start if isinstance(start, int) else max(text.find(answer_text), 0)
