"""`AsyncClient` against the real app, through httpx's ASGI transport."""

from __future__ import annotations

import httpx
import pytest

from stackyard.client import ApplyItem, AsyncClient, PipelineNotFound, ValidationFailed
from tests.yamls import prompt_yaml


async def test_async_client_deploys_runs_and_reads_history(aclient: httpx.AsyncClient) -> None:
    async with AsyncClient(http=aclient) as yard:
        assert (await yard.put_pipeline("greet", prompt_yaml())).outcome == "created"
        assert (await yard.run("greet", {"name": "Ada"})).result == {"prompt": {"prompt": "Hello Ada"}}
        assert (await yard.apply([ApplyItem(name="greet", yaml=prompt_yaml("Hi {{ name }}"))])).updated == ["greet"]
        assert [r.number for r in (await yard.revisions("greet")).revisions] == [2, 1]
        assert [p.name for p in await yard.list_pipelines()] == ["greet"]


async def test_async_client_raises_the_same_errors(aclient: httpx.AsyncClient) -> None:
    yard = AsyncClient(http=aclient)
    with pytest.raises(PipelineNotFound):
        await yard.get_pipeline("ghost")
    with pytest.raises(ValidationFailed) as caught:
        await yard.apply([ApplyItem(name="bad", yaml="- not a mapping\n")])
    assert caught.value.problems[0]["name"] == "bad"
