"""Which live pipelines are MCP tools, under which names, for which token; and what a tool call answers.

A pipeline opts in through its YAML metadata, `metadata: {mcp: true}` or `metadata: {mcp: {name: ..., description:
...}}`; the rest are never tools. Everything here is read from the registry (the live revisions), so the tools are
always the pipelines this process serves, and a tool call runs the revision a run of the same name would.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mcp import types

from stackyard.errors import StackyardError
from stackyard.serving.registry import LiveRevision, Registry
from stackyard.tokens import Token, TokenScope

# What MCP allows in a tool name (the 2025-06-18 schema's advice); a name outside it falls back to the pipeline's.
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True)
class ToolSpec:
    """A live pipeline offered as a tool."""

    pipeline: str
    revision: int
    name: str
    description: str | None  # None: the pipeline's stored description
    inputs: dict[str, Any]  # the flat input form of the pipeline's input schema

    def tool(self, stored_description: str) -> types.Tool:
        return types.Tool(
            name=self.name,
            description=self.description if self.description is not None else stored_description,
            inputSchema=self.inputs,
        )


def tool_spec(live: LiveRevision) -> ToolSpec | None:
    """The tool `live` offers, or None when its metadata does not opt in."""
    metadata = live.info.definition.pipeline.get("metadata")
    opted = metadata.get("mcp") if isinstance(metadata, dict) else None
    if opted is not True and not isinstance(opted, dict):
        return None
    settings: dict[str, Any] = opted if isinstance(opted, dict) else {}
    name = settings.get("name")
    description = settings.get("description")
    return ToolSpec(
        pipeline=live.name,
        revision=live.revision,
        name=name if isinstance(name, str) and _TOOL_NAME.match(name) else live.name,
        description=description if isinstance(description, str) else None,
        # `anyOf[0]` is the flat form (friendly names, `{"query": ...}`), the one a model can fill in.
        inputs=live.info.inputs_schema["anyOf"][0],
    )


def offered(registry: Registry) -> dict[str, ToolSpec]:
    """Tool name -> tool, for every enabled live pipeline that opts in. Two pipelines asking for one tool name: the
    first by pipeline name keeps it, so the answer does not depend on the order they were deployed in."""
    tools: dict[str, ToolSpec] = {}
    for spec in filter(None, map(tool_spec, registry.enabled())):
        tools.setdefault(spec.name, spec)
    return tools


def may_run(token: Token | None, tokens_configured: bool, pipeline: str) -> bool:
    """Whether the caller may call the tool of `pipeline`: anyone in open mode, else a token that may run it."""
    if not tokens_configured:
        return True
    return token is not None and token.allows(TokenScope.RUN, pipeline)


def answered(pipeline: str, revision: int, result: Any) -> types.CallToolResult:
    """A run's result as a tool result: the same JSON the run route answers, as text and as structured content."""
    payload = {"pipeline": pipeline, "revision": revision, "result": result}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structuredContent=payload, isError=False
    )


def refused(error: StackyardError) -> types.CallToolResult:
    """A problem as a tool error: the model reads the title and the detail, as an HTTP caller would."""
    text = f"{error.title}: {error.detail}"
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], isError=True)
