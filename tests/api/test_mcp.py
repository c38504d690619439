"""`/mcp`: opted-in pipelines as MCP tools, driven by the official `mcp` client against a real server process
(streamable HTTP holds a stream open, which an in-process transport would buffer to the end)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession, types
from mcp.client.session import MessageHandlerFnT
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from stackyard.tokens import create_token
from tests.process.server import Server, running
from tests.yamls import prompt_yaml

pytestmark = pytest.mark.process

ADMIN, ADMIN_LINE = create_token("deployer", "admin")
GREETER, GREETER_LINE = create_token("greeter", "run@gr*")
YAML = {"Content-Type": "application/yaml"}


def opted_in(template: str, metadata: str = "{mcp: true}") -> str:
    return prompt_yaml(template) + f"metadata: {metadata}\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path: Path = tmp_path_factory.mktemp("mcp")
    with running(tmp_path, env={"STACKYARD_TOKENS": f"{ADMIN_LINE};{GREETER_LINE}"}) as started:
        with started.client() as http:
            http.headers["Authorization"] = f"Bearer {ADMIN}"
            for name, yaml in (
                ("greet", opted_in("Hello {{ name }}")),
                ("shout", opted_in("HEY {{ name }}", "{mcp: {name: shouter, description: Shouts a name.}}")),
                ("quiet", prompt_yaml("psst {{ name }}")),
            ):
                assert http.put(f"/pipelines/{name}", content=yaml, headers=YAML).status_code == 201
        yield started


@asynccontextmanager
async def connected(
    server: Server, token: str, on_message: MessageHandlerFnT | None = None
) -> AsyncIterator[ClientSession]:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with (
        http,
        streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        await session.initialize()
        yield session


async def tool_names(session: ClientSession) -> list[str]:
    return sorted(tool.name for tool in (await session.list_tools()).tools)


def text_of(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


async def test_only_opted_in_pipelines_are_tools_named_and_described_by_their_metadata(server: Server) -> None:
    async with connected(server, ADMIN) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert sorted(tools) == ["greet", "shouter"]
    assert tools["shouter"].description == "Shouts a name."
    assert tools["greet"].inputSchema["required"] == ["name"]


async def test_a_tool_call_runs_the_pipeline_and_answers_its_result(server: Server) -> None:
    async with connected(server, ADMIN) as session:
        result = await session.call_tool("shouter", {"name": "Ada"})
    assert not result.isError
    expected = {"pipeline": "shout", "revision": 1, "result": {"prompt": {"prompt": "HEY Ada"}}}
    assert json.loads(text_of(result)) == expected
    assert result.structuredContent == expected


async def test_bad_input_is_a_tool_error_and_the_session_goes_on(server: Server) -> None:
    async with connected(server, ADMIN) as session:
        refused = await session.call_tool("greet", {"nobody": 1})
        assert refused.isError
        assert text_of(refused).startswith("The run inputs do not fit the pipeline: ")
        unknown = await session.call_tool("quiet", {"name": "x"})
        assert unknown.isError
        assert "no tool named 'quiet'" in text_of(unknown)
        fine = await session.call_tool("greet", {"name": "Ada"})
    assert not fine.isError


async def test_deployed_and_deleted_pipelines_come_and_go_and_sessions_are_told(server: Server) -> None:
    changed = asyncio.Event()

    async def on_message(message: object) -> None:
        notification = message.root if isinstance(message, types.ServerNotification) else None
        if isinstance(notification, types.ToolListChangedNotification):
            changed.set()

    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with connected(server, ADMIN, on_message) as session, httpx.AsyncClient(base_url=server.url) as http:
        assert session.get_server_capabilities().tools.listChanged  # type: ignore[union-attr]
        assert "hello" not in await tool_names(session)
        put = await http.put("/pipelines/hello", content=opted_in("Hi {{ name }}"), headers={**YAML, **admin})
        assert put.status_code == 201
        await asyncio.wait_for(changed.wait(), timeout=10)
        assert "hello" in await tool_names(session)
        changed.clear()
        assert (await http.delete("/pipelines/hello", headers=admin)).status_code == 204
        await asyncio.wait_for(changed.wait(), timeout=10)
        assert "hello" not in await tool_names(session)


async def test_without_a_token_mcp_is_refused(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert answer.status_code == 401


async def test_a_token_limited_to_some_pipelines_sees_and_calls_only_those(server: Server) -> None:
    async with connected(server, GREETER) as session:
        assert await tool_names(session) == ["greet"]
        refused = await session.call_tool("shouter", {"name": "Ada"})
        assert refused.isError
        assert "lacks the 'run' scope on pipeline 'shout'" in text_of(refused)
        assert not (await session.call_tool("greet", {"name": "Ada"})).isError
