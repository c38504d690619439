"""Reading a submitted definition from a request body (YAML or JSON)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from stackyard.api.bodies import DefinitionBody
from stackyard.api.problems import not_valid
from stackyard.errors import InvalidRequest, UnsupportedMediaType, trim
from stackyard.store import Change

Body = TypeVar("Body", bound=BaseModel)
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"})

# OpenAPI description of the two accepted bodies, since the handler reads the body itself.
DEFINITION_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": DefinitionBody.model_json_schema()},
        },
    }
}


async def read_yaml_or_json(request: Request, model: type[Body]) -> Body:
    """A body that is either YAML alone (it becomes `model(yaml=...)`) or JSON for `model`, with a clear 4xx."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()  # bounded by the body limit; the YAML's own limit is checked when it is parsed
    if media_type in YAML_TYPES:
        try:
            return model.model_validate({"yaml": body.decode("utf-8")})
        except UnicodeDecodeError:
            raise InvalidRequest("The YAML body is not UTF-8 text.") from None
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidRequest("The body is not valid JSON.") from None
        try:
            return model.model_validate(payload)
        except ValidationError as error:
            raise not_valid([{**item, "loc": ("body", *item["loc"])} for item in error.errors()]) from None
    raise UnsupportedMediaType(
        f"Send application/yaml, or application/json with a 'yaml' field (got {media_type or 'no content type'!r})."
    )


async def read_definition(request: Request, name: str, author: str = "anonymous") -> Change:
    """The change a PUT body asks for. YAML bodies carry the definition alone; JSON adds description and labels."""
    parsed = await read_yaml_or_json(request, DefinitionBody)
    return Change(
        name=name,
        yaml=parsed.yaml,
        description=parsed.description,
        labels=parsed.labels,
        author=author,
        message=parsed.message or trim(request.headers.get("x-change-message", ""), 2000),
    )
