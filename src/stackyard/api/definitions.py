"""Reading a submitted definition from a request body (YAML or JSON) and the RFC 9110 preconditions."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from stackyard.api.bodies import DefinitionBody
from stackyard.errors import DefinitionTooLarge, InvalidRequest, UnsupportedMediaType, trim
from stackyard.store import Change, Expectation

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


async def read_definition(request: Request, name: str, max_bytes: int, author: str = "anonymous") -> Change:
    """The change a PUT body asks for. YAML bodies carry the definition alone; JSON adds description and labels."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()
    # JSON wraps the YAML (escaping grows it), so allow it some room above the YAML limit before refusing outright.
    if len(body) > max_bytes * 2 + 65536:
        raise DefinitionTooLarge(f"The body has {len(body)} bytes; the definition limit is {max_bytes}.")
    message = request.headers.get("x-change-message", "")
    if media_type in YAML_TYPES:
        return Change(name=name, yaml=_text(body), author=author, message=trim(message, 2000))
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidRequest("The body is not valid JSON.") from None
        try:
            parsed = DefinitionBody.model_validate(payload)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise InvalidRequest(f"The JSON body is not a definition: {where}: {first['msg']}.") from None
        return Change(
            name=name,
            yaml=parsed.yaml,
            description=parsed.description,
            labels=parsed.labels,
            author=author,
            message=parsed.message or trim(message, 2000),
        )
    raise UnsupportedMediaType(
        f"Send the definition as application/yaml, or as application/json with a 'yaml' field (got {media_type!r})."
    )


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The YAML body is not UTF-8 text.") from None


def expectation(request: Request) -> Expectation | None:
    """`If-Match` / `If-None-Match: *` as a precondition on the live revision."""
    if_match = request.headers.get("if-match")
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and if_none_match.strip() == "*":
        return Expectation(absent=True)
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.split(",", 1)[0].strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise InvalidRequest(f"If-Match must carry a revision ETag such as '\"3\"', not {trim(if_match, 40)!r}.")
    return Expectation(revision=int(tag))


def etag(revision: int) -> str:
    return f'"{revision}"'
