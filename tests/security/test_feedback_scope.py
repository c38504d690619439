"""Feedback holds what users asked, the answers they got and the documents they judged: only `feedback` and `admin`
tokens read it, callers of a pipeline (`run`) give it, and a `read` token reads pipelines but never feedback.

The routes that answer feedback are found by asking every GET route of the app for a marker written into feedback,
not from a list kept by hand, so a route added later that shows feedback is held to the same rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from stackyard.tokens import create_token
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}
MARKER = "Marker-5c1e-private"
ADMIN, ADMIN_LINE = create_token("deployer", "admin")
READER, READER_LINE = create_token("dashboard", "read")
ANALYST, ANALYST_LINE = create_token("analyst", "feedback")
RUNNER, RUNNER_LINE = create_token("app", "run")
GREETER, GREETER_LINE = create_token("greeter", "run@gr*")
VERDICT = {"query": f"What is {MARKER}?", "answer": f"{MARKER} is hay", "is_correct": True}
LABEL: dict[str, Any] = {
    "query": f"Who stacks {MARKER}?",
    "document": {"content": f"The farmer stacks {MARKER} in the yard.", "id": "doc-1"},
    "is_correct_answer": True,
    "is_correct_document": True,
    "origin": "user-feedback",
    "answer": {"answer": "The farmer", "offsets_in_document": [{"start": 0, "end": 10}]},
    "no_answer": False,
}
# Where a route answers what the marker was written into (the feedback routes and the 1.x ones on the query pipeline).
KNOWN = {("GET", "/pipelines/{name}/feedback"), ("GET", "/feedback"), ("GET", "/export-feedback")}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[TestClient]:
    """Pipeline `greet`, also the 1.x query pipeline, with a verdict and a 1.x label given by a run token."""
    lines = [ADMIN_LINE, READER_LINE, ANALYST_LINE, RUNNER_LINE, GREETER_LINE]
    settings = Settings(store_url=f"sqlite:///{tmp_path}/yard.db", tokens=lines, query_pipeline="greet")
    with TestClient(create_app(settings)) as client:
        assert client.put("/pipelines/greet", content=prompt_yaml(), headers={**YAML, **bearer(ADMIN)}).is_success
        assert client.post("/pipelines/greet/feedback", json=VERDICT, headers=bearer(RUNNER)).status_code == 201
        assert client.post("/feedback", json=LABEL, headers=bearer(RUNNER)).status_code == 200
        yield client


def reads(client: TestClient) -> dict[tuple[str, str], str]:
    """Every GET operation of the app's OpenAPI document and the scope it names, with a path to call it on."""
    spec = client.get("/openapi.json").json()
    return {
        ("GET", path): operations["get"]["x-required-scope"]
        for path, operations in spec["paths"].items()
        if "get" in operations
    }


def get(client: TestClient, template: str, token: str) -> tuple[int, str]:
    path = template.replace("{name}", "greet").replace("{number}", "1").replace("{feedback_id}", "1")
    answer = client.get(path, headers=bearer(token))
    return answer.status_code, answer.text


def feedback_routes(client: TestClient) -> set[tuple[str, str]]:
    """The GET routes whose answer, to an admin, carries feedback text."""
    return {route for route in reads(client) if MARKER in get(client, route[1], ADMIN)[1]}


def test_the_routes_that_answer_feedback_are_found_and_each_needs_the_feedback_scope(secured: TestClient) -> None:
    found = feedback_routes(secured)
    assert found >= KNOWN, "the feedback routes were found by what they answer"
    scopes = reads(secured)
    assert {route: scopes[route] for route in found} == dict.fromkeys(found, "feedback")


def test_a_read_token_is_refused_every_route_that_answers_feedback(secured: TestClient) -> None:
    for route in feedback_routes(secured):
        status, text = get(secured, route[1], READER)
        assert status == 403, route
        assert MARKER not in text
    refused = secured.post("/eval-feedback", json={"filters": {"query": [LABEL["query"]]}}, headers=bearer(READER))
    assert refused.status_code == 403, "its filters would tell a guessed query from others"


def test_no_get_route_shows_feedback_to_a_read_token(secured: TestClient) -> None:
    for route in reads(secured):
        assert MARKER not in get(secured, route[1], READER)[1], route


def test_a_read_token_still_reads_pipelines_and_the_counts_of_verdicts(secured: TestClient) -> None:
    for path in ("/pipelines", "/pipelines/greet", "/pipelines/greet/schema", "/pipelines/greet/revisions"):
        assert get(secured, path, READER)[0] == 200, path
    status, text = get(secured, "/pipelines/greet/feedback/summary", READER)
    assert status == 200
    assert MARKER not in text


def test_a_feedback_token_reads_feedback_but_neither_pipelines_nor_their_management(secured: TestClient) -> None:
    for route in feedback_routes(secured):
        status, text = get(secured, route[1], ANALYST)
        assert (status, MARKER in text) == (200, True), route
    accuracy = secured.post("/eval-feedback", json={"filters": {"query": [LABEL["query"]]}}, headers=bearer(ANALYST))
    assert accuracy.json()["n_feedback"] == 1
    analyst = bearer(ANALYST)
    refused = [
        secured.put("/pipelines/greet", content=prompt_yaml("Hi {{ name }}"), headers={**YAML, **analyst}),
        secured.patch("/pipelines/greet", json={"description": "x"}, headers=analyst),
        secured.post("/pipelines/greet/rollback", json={"revision": 1}, headers=analyst),
        secured.delete("/pipelines/greet", headers=analyst),
        secured.put("/pipelines", json=[], headers=analyst),
        secured.post("/validate", content=prompt_yaml(), headers={**YAML, **analyst}),
        secured.delete("/pipelines/greet/feedback", headers=analyst),
        secured.delete("/feedback", headers=analyst),
        secured.get("/audit", headers=analyst),
        secured.get("/pipelines", headers=analyst),
        secured.post("/pipelines/greet/run", json={"data": {"name": "x"}}, headers=analyst),
        secured.post("/pipelines/greet/feedback", json=VERDICT, headers=analyst),
    ]
    assert [(answer.request.method, answer.status_code) for answer in refused] == [
        (answer.request.method, 403) for answer in refused
    ]
    assert get(secured, "/pipelines/greet", ADMIN)[0] == 200, "nothing was changed"


def test_an_admin_token_reads_feedback_and_pipelines(secured: TestClient) -> None:
    for route in reads(secured):
        status = get(secured, route[1], ADMIN)[0]
        assert status not in (401, 403), route
    for route in feedback_routes(secured):
        assert get(secured, route[1], ADMIN)[0] == 200, route
    assert secured.post("/eval-feedback", json={}, headers=bearer(ADMIN)).json()["n_feedback"] == 2  # both verdicts


def test_a_run_token_gives_feedback_on_the_pipelines_it_runs_but_does_not_read_it(secured: TestClient) -> None:
    assert secured.put("/pipelines/other", content=prompt_yaml(), headers={**YAML, **bearer(ADMIN)}).is_success
    given = secured.post("/pipelines/greet/feedback", json=VERDICT, headers=bearer(GREETER))
    assert (given.status_code, given.json()["actor"]) == (201, "greeter")
    assert secured.post("/pipelines/other/feedback", json=VERDICT, headers=bearer(GREETER)).status_code == 403
    # The 1.x route names no pipeline, so a token limited by pattern cannot show it may give feedback there.
    assert secured.post("/feedback", json=LABEL, headers=bearer(GREETER)).status_code == 403
    for route in feedback_routes(secured):
        assert get(secured, route[1], RUNNER)[0] == 403, route
    listed = secured.get("/pipelines/greet/feedback", headers=bearer(ANALYST)).json()["feedback"]
    assert [item["actor"] for item in listed] == ["greeter", "app", "app"]  # newest first: the verdicts, the label
