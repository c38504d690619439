"""The Haystack names Stackyard uses beyond Haystack's public API still exist and still mean what Stackyard needs.

A Haystack upgrade that renames or changes one fails here, loudly, instead of degrading the server silently.
"""

from __future__ import annotations

from haystack.dataclasses import Document
from haystack.document_stores.in_memory import InMemoryDocumentStore
from pydantic import TypeAdapter

from stackyard.cell import haystack_internals


def test_haystack_still_has_its_private_type_resolver() -> None:
    from haystack.tools.parameters_schema_utils import _resolve_type

    assert haystack_internals.describable_type.__globals__["_resolve_type"] is _resolve_type


def test_documents_become_describable_types_with_their_fields() -> None:
    schema = TypeAdapter(haystack_internals.describable_type(list[Document])).json_schema()
    assert schema["type"] == "array"
    item = schema["items"]
    properties = (schema.get("$defs", {}).get(item["$ref"].rsplit("/", 1)[-1]) if "$ref" in item else item)[
        "properties"
    ]
    assert {"id", "content", "meta"} <= set(properties)


def test_in_memory_stores_still_say_whether_they_share_their_index() -> None:
    shared, local = InMemoryDocumentStore(index="internals-a"), InMemoryDocumentStore(index="internals-b", shared=False)
    assert "_shared" in vars(shared)
    assert (haystack_internals.shares_its_index(shared), haystack_internals.shares_its_index(local)) == (True, False)


def test_pipelines_still_keep_their_max_runs_per_component() -> None:
    from haystack import Pipeline

    pipeline = Pipeline(max_runs_per_component=7)
    assert "_max_runs_per_component" in vars(pipeline)
    assert haystack_internals.max_runs_per_component(pipeline) == 7
