"""The shapes of Haystack's 1.x REST API, mapped to and from Haystack 3: filters, documents, answers, labels, SQuAD.

1.x clients send and expect these shapes; Stackyard keeps them on the 1.x routes so those clients work unchanged
while the pipelines behind them are Haystack 3 pipelines. Fields without a meaning in Haystack 3 are documented in
`docs/migrating-from-haystack-1.md`.
"""

from __future__ import annotations

from typing import Any

from stackyard.docstores import InvalidFilters
from stackyard.store import Feedback

OPERATORS = {
    "$eq": "==",
    "$ne": "!=",
    "$in": "in",
    "$nin": "not in",
    "$gt": ">",
    "$gte": ">=",
    "$lt": "<",
    "$lte": "<=",
}
LOGICAL = {"$and": "AND", "$or": "OR", "$not": "NOT"}


def filters_from_1x(filters: dict[str, Any] | None) -> dict[str, Any] | None:
    """1.x filters (`{"year": [2020, 2021], "$or": {...}}`) as Haystack 3 filters; new-style filters pass as they are.

    Example:
        >>> filters_from_1x({"name": "a.txt"})
        {'field': 'meta.name', 'operator': '==', 'value': 'a.txt'}
    """
    if not filters:
        return None
    if "operator" in filters and ("conditions" in filters or "field" in filters):
        return filters
    conditions = _conditions(filters)
    return conditions[0] if len(conditions) == 1 else {"operator": "AND", "conditions": conditions}


def _conditions(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, value in spec.items():
        if key in LOGICAL:
            if isinstance(value, dict):
                items = [{inner: item} for inner, item in value.items()]
            elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
                items = value
            else:
                raise InvalidFilters(f"1.x filter {key!r} takes an object or a list of objects of conditions.")
            inner = [condition for item in items for condition in _conditions(item)]
            out.append({"operator": LOGICAL[key], "conditions": inner})
            continue
        field = key if key in ("id", "content") or key.startswith("meta.") else f"meta.{key}"
        if isinstance(value, dict):
            for operator, operand in value.items():
                if operator not in OPERATORS:
                    raise InvalidFilters(f"Unknown 1.x filter operator {operator!r} on '{key}'.")
                out.append({"field": field, "operator": OPERATORS[operator], "value": operand})
        elif isinstance(value, list):
            out.append({"field": field, "operator": "in", "value": value})
        else:
            out.append({"field": field, "operator": "==", "value": value})
    return out


def document_1x(document: dict[str, Any]) -> dict[str, Any]:
    """A Haystack 3 document (as plain JSON) in the 1.x `Document` shape."""
    return {
        "content": document.get("content"),
        "content_type": "text",
        "id": document.get("id"),
        "meta": document.get("meta") or {},
        "score": document.get("score"),
        "embedding": document.get("embedding"),
        "id_hash_keys": ["content"],
    }


def answer_1x(answer: dict[str, Any]) -> dict[str, Any]:
    """A Haystack 3 answer (Generated or Extracted, as plain JSON) in the 1.x `Answer` shape."""
    if "document_offset" in answer or "document" in answer:  # ExtractedAnswer
        document = answer.get("document") or {}
        return {
            "answer": answer.get("data") or "",
            "type": "extractive",
            "score": answer.get("score"),
            "context": answer.get("context"),
            "offsets_in_document": [answer["document_offset"]] if answer.get("document_offset") else None,
            "offsets_in_context": [answer["context_offset"]] if answer.get("context_offset") else None,
            "document_ids": [document["id"]] if document.get("id") else None,
            "meta": answer.get("meta") or {},
        }
    documents = answer.get("documents") or []
    return {
        "answer": answer.get("data") or "",
        "type": "generative",
        "score": None,
        "context": None,
        "offsets_in_document": None,
        "offsets_in_context": None,
        "document_ids": [document.get("id") for document in documents] or None,
        "meta": answer.get("meta") or {},
    }


def find_output(result: dict[str, Any], key: str) -> list[Any]:
    """A list output named `key`: top level (friendly outputs) or under any component (Haystack's raw shape)."""
    value = result.get(key)
    if isinstance(value, list):
        return value
    for outputs in result.values():
        if isinstance(outputs, dict) and isinstance(outputs.get(key), list):
            found: list[Any] = outputs[key]
            return found
    return []


def query_answer_1x(query: str, result: dict[str, Any]) -> dict[str, Any]:
    """A run result in the 1.x `QueryResponse` shape: `{query, answers, documents}`."""
    answers = [answer_1x(item) for item in find_output(result, "answers") if isinstance(item, dict)]
    documents = find_output(result, "documents")
    if not documents:  # answers carry the documents they were built from
        for item in find_output(result, "answers"):
            if isinstance(item, dict):
                documents.extend(item.get("documents") or [])
    return {"query": query, "answers": answers, "documents": [document_1x(item) for item in documents]}


def feedback_from_label(label: dict[str, Any], pipeline: str, revision: int | None, actor: str) -> Feedback:
    """A 1.x label (`CreateLabelSerialized`) as feedback; the whole label is kept in `meta["label"]`."""
    answer = _object(label.get("answer"))
    document = _object(label.get("document"))
    is_correct = label.get("is_correct_answer")
    if is_correct is None:
        is_correct = label.get("is_correct_document", False)
    return Feedback(
        pipeline=pipeline,
        revision=revision,
        query=str(label.get("query") or ""),
        is_correct=bool(is_correct),
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
    label.setdefault("origin", "user-feedback")
    label.setdefault("answer", {"answer": record.answer, "type": "generative"} if record.answer else None)
    label.setdefault("no_answer", record.answer is None)
    label.setdefault("pipeline_id", record.pipeline)
    label.setdefault("created_at", record.created_at.isoformat() if record.created_at else None)
    label.setdefault("meta", {key: value for key, value in record.meta.items() if key != "label"})
    return label


def squad_export(
    records: list[Feedback], context_size: int, full_document_context: bool, only_positive_labels: bool
) -> dict[str, Any]:
    """Feedback as SQuAD JSON, as 1.x `GET /export-feedback` made it. Labels without document text are left out."""
    data = []
    for record in records:
        label = label_of(record)
        if only_positive_labels and not (label.get("is_correct_answer") and label.get("is_correct_document")):
            continue
        document = _object(label.get("document"))
        text = document.get("content")
        if not isinstance(text, str):
            continue
        answer = _object(label.get("answer"))
        answer_text = str(answer.get("answer") or "")
        start = _answer_start(answer, text, answer_text)
        if full_document_context:
            context, answer_start = text, start
        else:
            around = max((context_size - len(answer_text)) // 2, 0)
            begin = max(start - around, 0)
            end = min(start + len(answer_text) + around, len(text))
            context, answer_start = text[begin:end], start - begin
        question = {
            "question": label.get("query"),
            "id": label.get("id"),
            "is_impossible": bool(label.get("no_answer")),
            "answers": [{"text": answer_text, "answer_start": answer_start}] if answer_text else [],
        }
        data.append({"paragraphs": [{"context": context, "id": document.get("id"), "qas": [question]}]})
    return {"data": data}


# Labels are stored as 1.x clients sent them, so their parts are read without trusting their shape.
def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _answer_start(answer: dict[str, Any], text: str, answer_text: str) -> int:
    offsets = answer.get("offsets_in_document")
    first = offsets[0] if isinstance(offsets, list) and offsets else None
    start = first.get("start") if isinstance(first, dict) else None
    return start if isinstance(start, int) else max(text.find(answer_text), 0)
