"""RFC 9110 preconditions: If-Match and If-None-Match on every write."""

from __future__ import annotations

import asyncio

import httpx
from fastapi.testclient import TestClient

from stackyard.api.app import create_app
from stackyard.settings import Settings
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


def test_if_match_matches_any_listed_tag_and_star_needs_the_pipeline_to_exist(client: TestClient) -> None:
    star = {**YAML, "If-Match": "*"}
    assert client.put("/pipelines/greet", content=prompt_yaml(), headers=star).status_code == 412
    assert client.get("/pipelines/greet").status_code == 404
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    listed = {**YAML, "If-Match": '"7", "1", "9"'}
    assert client.put("/pipelines/greet", content=prompt_yaml("v2 {{ name }}"), headers=listed).status_code == 200
    assert client.put("/pipelines/greet", content=prompt_yaml("v3 {{ name }}"), headers=star).status_code == 200
    assert (
        client.patch("/pipelines/greet", json={"description": "d"}, headers={"If-Match": '"1","3"'}).status_code == 200
    )
    assert client.get("/pipelines/greet").json()["revision"] == 4


def test_if_match_compares_strongly_so_a_weak_tag_never_matches(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    weak = client.put("/pipelines/greet", content=prompt_yaml("v2 {{ name }}"), headers={**YAML, "If-Match": 'W/"1"'})
    assert weak.status_code == 412
    mixed = {**YAML, "If-Match": 'W/"1", "1"'}
    assert client.put("/pipelines/greet", content=prompt_yaml("v2 {{ name }}"), headers=mixed).status_code == 200


def test_if_none_match_with_tags_compares_weakly(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    same = client.delete("/pipelines/greet", headers={"If-None-Match": 'W/"1"'})
    assert same.status_code == 412
    assert client.get("/pipelines/greet").status_code == 200
    assert client.delete("/pipelines/greet", headers={"If-None-Match": '"2", "3"'}).status_code == 204


def test_accept_is_negotiated_with_q_values_and_lists(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    client.patch("/pipelines/greet", json={"description": "d"})

    def kind(path: str, accept: str) -> str:
        return client.get(path, headers={"Accept": accept}).headers["content-type"].split(";")[0]

    assert kind("/pipelines/greet", "application/json;q=0.5, application/yaml") == "application/yaml"
    assert kind("/pipelines/greet", "application/yaml;q=0.2, application/json") == "application/json"
    assert kind("/pipelines/greet", "application/yaml, application/json") == "application/json"  # a tie: the default
    assert kind("/pipelines/greet", "*/*") == "application/json"
    assert kind("/pipelines/greet", "text/html") == "application/json"  # nothing offered matches: the default
    assert (
        kind("/pipelines/greet/revisions/1", "application/x-yaml;q=0.1, application/yaml;q=0.9") == "application/yaml"
    )
    assert kind("/pipelines/greet/diff", "text/*") == "text/x-diff"
    assert kind("/pipelines/greet/diff", "text/plain;q=0.1, application/json") == "application/json"


def test_diff_to_an_early_revision_works_whatever_the_number_of_revisions(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"keep_revisions": None}))) as client:
        _diff_to_an_early_revision(client)


def _diff_to_an_early_revision(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    for n in range(2, 206):
        client.patch("/pipelines/greet", json={"description": f"d{n}"})
    assert client.get("/pipelines/greet").json()["revision"] == 205
    diff = client.get("/pipelines/greet/diff", params={"to": 3}).json()
    assert (diff["from_revision"], diff["to_revision"]) == (2, 3)
    assert client.get("/pipelines/greet/diff", params={"to": 1}).status_code == 404
