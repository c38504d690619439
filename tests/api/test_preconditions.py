"""RFC 9110 preconditions: If-Match and If-None-Match on every write."""

from __future__ import annotations

import asyncio

import httpx
from fastapi.testclient import TestClient

from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}


def test_stale_if_match_gets_412_and_changes_nothing_on_every_write(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml("v1 {{ name }}"), headers=YAML)
    client.put("/pipelines/greet", content=prompt_yaml("v2 {{ name }}"), headers=YAML)
    stale = {"If-Match": '"1"'}
    answers = [
        client.put("/pipelines/greet", content=prompt_yaml("v3 {{ name }}"), headers={**YAML, **stale}),
        client.patch("/pipelines/greet", json={"enabled": False}, headers=stale),
        client.patch("/pipelines/greet", json={"description": "x"}, headers=stale),
        client.post("/pipelines/greet/rollback", json={"revision": 1}, headers=stale),
        client.delete("/pipelines/greet", headers=stale),
    ]
    for answer in answers:
        assert answer.status_code == 412, answer.text
        assert answer.json()["current_revision"] == 2
    live = client.get("/pipelines/greet").json()
    assert (live["revision"], live["enabled"], live["description"]) == (2, True, "")


def test_matching_if_match_is_accepted(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    etag = client.get("/pipelines/greet").headers["etag"]
    answer = client.put("/pipelines/greet", content=prompt_yaml("v2 {{ name }}"), headers={**YAML, "If-Match": etag})
    assert answer.status_code == 200
    assert answer.headers["etag"] == '"2"'


def test_if_none_match_star_creates_only(client: TestClient) -> None:
    create_only = {**YAML, "If-None-Match": "*"}
    assert client.put("/pipelines/greet", content=prompt_yaml(), headers=create_only).status_code == 201
    again = client.put("/pipelines/greet", content=prompt_yaml("v2 {{ name }}"), headers=create_only)
    assert again.status_code == 412
    assert client.get("/pipelines/greet").json()["revision"] == 1


def test_malformed_if_match_is_a_400(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    answer = client.put("/pipelines/greet", content=prompt_yaml("x {{ name }}"), headers={**YAML, "If-Match": "abc"})
    assert answer.status_code == 400


async def test_racing_clients_with_if_match_exactly_one_wins_each_revision(aclient: httpx.AsyncClient) -> None:
    await aclient.put("/pipelines/race", content=prompt_yaml("v0 {{ name }}"), headers=YAML)
    writers = 6
    rounds = 5
    wins: list[tuple[int, int]] = []

    async def writer(index: int) -> None:
        for attempt in range(rounds):
            current = await aclient.get("/pipelines/race")
            etag = current.headers["etag"]
            answer = await aclient.put(
                "/pipelines/race",
                content=prompt_yaml(f"w{index}-{attempt} {{{{ name }}}}"),
                headers={**YAML, "If-Match": etag},
            )
            assert answer.status_code in (200, 412), answer.text
            if answer.status_code == 200:
                assert answer.json()["revision"] == int(etag.strip('"')) + 1
                wins.append((int(etag.strip('"')), index))

    await asyncio.gather(*(writer(i) for i in range(writers)))
    based_on = [base for base, _ in wins]
    assert len(based_on) == len(set(based_on)), "two writers won from the same revision"
    final = (await aclient.get("/pipelines/race")).json()["revision"]
    assert final == 1 + len(wins), "every win is a revision and no revision is lost"
    history = (await aclient.get("/pipelines/race/revisions", params={"limit": 200})).json()
    assert history["total"] == final
