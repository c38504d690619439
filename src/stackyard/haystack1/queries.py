"""The shapes of Haystack's 1.x REST API, mapped to and from Haystack 3: filters, query parameters, documents, answers.

1.x clients send and expect these shapes; Stackyard keeps them on the 1.x routes so those clients work unchanged
while the pipelines behind them are Haystack 3 pipelines. Fields without a meaning in Haystack 3 are documented in
`docs/migrating-from-haystack-1.md`; labels (feedback) are in `legacy_labels.py`.
"""

from __future__ import annotations

import json
from typing import Any

from stackyard.errors import InvalidFilters

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


def find_output(result: dict[str, Any], key: str) -> list[Any] | None:
    """A list output named `key`: top level (friendly outputs) or under any component (Haystack's raw shape)."""
    value = result.get(key)
    if isinstance(value, list):
        return value
    for outputs in result.values():
        if isinstance(outputs, dict) and isinstance(outputs.get(key), list):
            found: list[Any] = outputs[key]
            return found
    return None


def query_answer_1x(query: str, result: dict[str, Any]) -> dict[str, Any]:
    """A run result in the 1.x `QueryResponse` shape: `{query, answers, documents}`, and `results` when generated.

    `results` (1.x PromptNode's output) comes from an output named `results`, else from a generator's `replies`,
    as their text.
    """
    found_answers = find_output(result, "answers") or []
    answers = [answer_1x(item) for item in found_answers if isinstance(item, dict)]
    documents = list(find_output(result, "documents") or [])
    if not documents:  # answers carry the documents they were built from
        for item in found_answers:
            if isinstance(item, dict):
                documents.extend(item.get("documents") or [])
    answer: dict[str, Any] = {
        "query": query,
        "answers": answers,
        "documents": [document_1x(item) for item in documents if isinstance(item, dict)],
    }
    generated = find_output(result, "results")
    if generated is None:
        generated = find_output(result, "replies")
    if generated is not None:
        answer["results"] = [_text_of(item) for item in generated]
    return answer


def _text_of(item: Any) -> str:
    """A generated result as 1.x's plain string: a reply's text, an answer's data, or the value as JSON."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("text", "data"):  # a ChatMessage, a GeneratedAnswer
            if isinstance(item.get(key), str):
                text: str = item[key]
                return text
    return json.dumps(item)
