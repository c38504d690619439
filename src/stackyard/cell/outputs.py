"""Pipeline outputs as plain JSON: Documents, Answers, ChatMessages and ByteStreams become ordinary objects.

Haystack's own `to_dict` methods serialise for round-tripping (ByteStream data as a list of ints, answers wrapped in
`type`/`init_parameters`); an API client wants readable JSON instead, so the shapes are chosen here.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from typing import Any

from haystack.dataclasses import ByteStream, ChatMessage, Document, SparseEmbedding
from pydantic import BaseModel

JSON = dict[str, Any] | list[Any] | str | int | float | bool | None


def jsonable(value: Any) -> Any:
    """Convert a pipeline output to JSON-compatible Python values.

    Example:
        >>> jsonable(Document(id="1", content="hay"))["content"]
        'hay'
    """
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if isinstance(value, Document):
        return _document(value)
    if isinstance(value, ChatMessage):
        return {"text": value.text, **jsonable(value.to_dict())}
    if isinstance(value, ByteStream):
        return byte_stream(value)
    if isinstance(value, SparseEmbedding):
        return value.to_dict()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return jsonable(value.tolist())
    return str(value)


def byte_stream(stream: ByteStream) -> dict[str, Any]:
    """A ByteStream as `{data (base64), mime_type, meta}`."""
    return {
        "data": base64.b64encode(stream.data).decode("ascii"),
        "mime_type": stream.mime_type,
        "meta": jsonable(stream.meta),
    }


def _document(document: Document) -> dict[str, Any]:
    out: dict[str, Any] = {"id": document.id, "content": document.content, "meta": jsonable(document.meta)}
    if document.score is not None:
        out["score"] = document.score
    if document.blob is not None:
        out["blob"] = byte_stream(document.blob)
    if document.embedding is not None:
        out["embedding"] = list(document.embedding)
    if document.sparse_embedding is not None:
        out["sparse_embedding"] = document.sparse_embedding.to_dict()
    return out


def plain_documents(documents: list[Any], with_embedding: bool) -> list[dict[str, Any]]:
    """Documents as plain JSON objects; vectors only when asked for (they are large and rarely read)."""
    plain = [jsonable(document) for document in documents]
    if not with_embedding:
        for document in plain:
            document.pop("embedding", None)
            document.pop("sparse_embedding", None)
    return plain
