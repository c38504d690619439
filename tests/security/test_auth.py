"""Bearer tokens and scopes on every route of the app and its OpenAPI document, open mode, and tokens kept out of
logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.routing import RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Route
from typer.testing import CliRunner

from stackyard.api import create_app
from stackyard.api.middleware import run_lane
from stackyard.api.middleware.access_control import required
from stackyard.cli import app as cli_app
from stackyard.client import Client, Forbidden, Unauthorized
from stackyard.settings import Settings
from stackyard.tokens import InvalidTokenLine, create_token, parse_token_line
from tests.conftest import as_httpx
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}
ADMIN, ADMIN_LINE = create_token("deployer", "admin")
READER, READER_LINE = create_token("dashboard", "read")
RUNNER, RUNNER_LINE = create_token("app", "run")
GREETER, GREETER_LINE = create_token("greeter", "run@gr*")
ANALYST, ANALYST_LINE = create_token("analyst", "feedback")

# The scope each operation of the OpenAPI document needs; None: public. A new route must be added here.
EXPECTED: dict[tuple[str, str], str | None] = {
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/metrics"): None,
    ("GET", "/status"): "read",
    ("GET", "/pipelines/{name}/ready"): "read",
    ("PATCH", "/pipelines/{name}"): "admin",
    ("GET", "/pipelines/{name}"): "read",
    ("PUT", "/pipelines/{name}"): "admin",
    ("DELETE", "/pipelines/{name}"): "admin",
    ("POST", "/pipelines/{name}/rollback"): "admin",
    ("PUT", "/pipelines"): "admin",
    ("GET", "/pipelines"): "read",
    ("GET", "/pipelines/{name}/revisions"): "read",
    ("GET", "/pipelines/{name}/revisions/{number}"): "read",
    ("GET", "/pipelines/{name}/diff"): "read",
    ("POST", "/pipelines/{name}/run"): "run",
    ("GET", "/mcp"): "run",
    ("POST", "/mcp"): "run",
    ("DELETE", "/mcp"): "run",
    ("GET", "/v1/models"): "run",
    ("POST", "/v1/chat/completions"): "run",
    ("GET", "/pipelines/{name}/schema"): "read",
    ("POST", "/validate"): "admin",
    ("GET", "/audit"): "admin",
    ("GET", "/replicas"): "read",
    ("GET", "/stats"): "read",
    ("GET", "/whoami"): "any",
    ("GET", "/pipelines/{name}/rollout"): "read",
    ("POST", "/pipelines/{name}/files"): "run",
    ("POST", "/pipelines/{name}/documents/search"): "run",
    ("POST", "/pipelines/{name}/documents/count"): "run",
    ("POST", "/pipelines/{name}/documents/delete"): "admin",
    ("POST", "/pipelines/{name}/feedback"): "run",
    ("GET", "/pipelines/{name}/feedback"): "feedback",
    ("DELETE", "/pipelines/{name}/feedback"): "admin",
    ("GET", "/pipelines/{name}/feedback/summary"): "read",
    ("DELETE", "/pipelines/{name}/feedback/{feedback_id}"): "admin",
    ("GET", "/initialized"): "read",
    ("GET", "/hs_version"): "read",
    ("GET", "/health"): None,
    ("POST", "/query"): "run",
    ("POST", "/file-upload"): "run",
    ("POST", "/documents/get_by_filters"): "run",
    ("POST", "/documents/delete_by_filters"): "admin",
    ("GET", "/feedback"): "feedback",
    ("POST", "/feedback"): "run",
    ("DELETE", "/feedback"): "admin",
    ("GET", "/export-feedback"): "feedback",
    ("POST", "/eval-feedback"): "feedback",
    ("GET", "/openapi.json"): None,
    ("GET", "/docs"): None,
    ("GET", "/redoc"): None,
}
# Served but not operations of the OpenAPI document: the pages that read it, and the document itself.
UNDOCUMENTED = {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/redoc")}
TOKEN_FOR = {"admin": ADMIN, "read": READER, "run": RUNNER, "feedback": ANALYST}
# A read token lacks `feedback`: the pipelines' readers do not read what their users asked.
LACKING = {"admin": READER, "read": ANALYST, "run": READER, "feedback": READER}
BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("PATCH", "/pipelines/{name}"): {"json": {"description": "patched"}},
    ("PUT", "/pipelines/{name}"): {"content": prompt_yaml("Hi {{ name }}"), "headers": YAML},
    ("POST", "/pipelines/{name}/rollback"): {"json": {"revision": 1}},
    ("PUT", "/pipelines"): {"json": [{"name": "greet", "yaml": prompt_yaml()}]},
    ("POST", "/pipelines/{name}/run"): {"json": {"data": {"name": "x"}}},
    ("POST", "/validate"): {"content": prompt_yaml(), "headers": YAML},
}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db",
        tokens=[ADMIN_LINE, READER_LINE, RUNNER_LINE, GREETER_LINE, ANALYST_LINE],
    )
    with TestClient(create_app(settings)) as client:
        answer = client.put("/pipelines/greet", content=prompt_yaml(), headers={**YAML, **bearer(ADMIN)})
        assert answer.status_code == 201
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(client: TestClient, method: str, template: str, token: str | None) -> int:
    path = template.replace("{name}", "greet").replace("{number}", "1").replace("{feedback_id}", "1")
    extra = dict(BODIES.get((method, template), {}))
    headers = {**extra.pop("headers", {}), **(bearer(token) if token else {})}  # type: ignore[dict-item]
    return client.request(method, path, headers=headers, **extra).status_code  # type: ignore[arg-type]


def test_the_table_covers_every_route_of_the_openapi_document(secured: TestClient) -> None:
    spec = secured.get("/openapi.json", headers=bearer(READER)).json()
    documented = {(method.upper(), path) for path, operations in spec["paths"].items() for method in operations}
    assert documented == set(EXPECTED) - UNDOCUMENTED


def test_the_openapi_document_names_the_scope_of_each_operation(secured: TestClient) -> None:
    spec = secured.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            scope = EXPECTED[(method.upper(), path)]
            assert operation["x-required-scope"] == (scope or "none"), (method, path)
            said = {None: "Public: needs no token.", "any": "Scope: any valid token."}.get(scope, f"Scope: `{scope}`")
            assert said in operation["description"], (method, path)
    assert "x-required-scope" in spec["info"]["description"]


def test_every_route_of_the_app_is_documented_with_its_scope_or_is_a_public_page(secured: TestClient) -> None:
    spec = secured.get("/openapi.json").json()
    app = cast(FastAPI, secured.app)
    routes: list[RouteContext | Route] = [*iter_route_contexts(app.routes), run_lane.DESCRIPTION]
    assert len(routes) > len(EXPECTED) / 2, "the routes were found"
    for route in routes:
        path = str(route.path_format).replace("{path}", "page")  # a mount's files: /ui/{path}, /docs/assets/{path}
        for method in sorted(route.methods or {"GET"}):
            documented = spec["paths"].get(route.path_format, {}).get(method.lower())
            if documented is not None:
                assert "x-required-scope" in documented, (method, path)
            elif method != "HEAD":  # HEAD is answered as GET is
                assert required(method, path) == (None, None), f"{method} {path} is served, undocumented, not public"


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED), ids=str)
def test_each_route_without_a_token(secured: TestClient, method: str, path: str) -> None:
    status = call(secured, method, path, None)
    if EXPECTED[(method, path)] is None:
        assert status not in (401, 403)
    else:
        assert status == 401


@pytest.mark.parametrize(
    ("method", "path"), sorted(key for key, scope in EXPECTED.items() if scope not in (None, "any")), ids=str
)
def test_each_route_with_a_token_lacking_the_scope_and_with_the_right_one(
    secured: TestClient, method: str, path: str
) -> None:
    scope = EXPECTED[(method, path)]
    assert scope is not None
    assert call(secured, method, path, LACKING[scope]) == 403
    assert call(secured, method, path, TOKEN_FOR[scope]) not in (401, 403)
    assert call(secured, method, path, ADMIN) not in (401, 403), "admin holds every scope"


@pytest.mark.parametrize(("method", "path"), sorted(key for key, scope in EXPECTED.items() if scope == "any"), ids=str)
def test_each_route_open_to_any_valid_token_answers_every_scope(secured: TestClient, method: str, path: str) -> None:
    for token in TOKEN_FOR.values():
        assert call(secured, method, path, token) not in (401, 403)
    assert call(secured, method, path, "sy_not-a-real-token") == 401


def test_a_bad_token_is_401_with_a_challenge(secured: TestClient) -> None:
    answer = secured.get("/pipelines", headers=bearer("sy_not-a-real-token"))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.headers["content-type"] == "application/problem+json"
    assert secured.get("/pipelines", headers={"Authorization": "Basic abc"}).status_code == 401


def test_a_run_token_limited_by_pattern_runs_only_matching_pipelines(secured: TestClient) -> None:
    secured.put("/pipelines/other", content=prompt_yaml(), headers={**YAML, **bearer(ADMIN)})
    assert (
        secured.post("/pipelines/greet/run", json={"data": {"name": "x"}}, headers=bearer(GREETER)).status_code == 200
    )
    refused = secured.post("/pipelines/other/run", json={"data": {"name": "x"}}, headers=bearer(GREETER))
    assert refused.status_code == 403
    assert "other" in refused.json()["detail"]


def test_the_audit_names_the_token_that_made_each_change(secured: TestClient) -> None:
    secured.put("/pipelines/greet", content=prompt_yaml("v2 {{ name }}"), headers={**YAML, **bearer(ADMIN)})
    entries = secured.get("/audit", headers=bearer(ADMIN)).json()["entries"]
    assert [entry["actor"] for entry in entries] == ["deployer", "deployer"]
    revisions = secured.get("/pipelines/greet/revisions", headers=bearer(READER)).json()["revisions"]
    assert revisions[0]["author"] == "deployer"


def test_tokens_never_reach_the_logs(secured: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        secured.post("/pipelines/greet/run", json={"data": {"name": "x"}}, headers=bearer(RUNNER))
        secured.get("/pipelines", headers=bearer("sy_wrong-token-value"))
    text = caplog.text
    assert RUNNER not in text
    assert "sy_wrong-token-value" not in text


def test_open_mode_on_loopback_serves_everything(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(store_url=f"sqlite:///{tmp_path}/yard.db"))) as client:
        assert client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML).status_code == 201


def test_open_mode_on_a_network_address_refuses_management_and_feedback_reads_but_serves_runs(tmp_path: Path) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/yard.db", host="0.0.0.0")
    with TestClient(create_app(settings)) as client:
        refused = client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
        assert refused.status_code == 403
        assert "STACKYARD_ALLOW_INSECURE" in refused.json()["detail"]
        assert client.get("/pipelines").status_code == 200
        for path in ("/pipelines/greet/feedback", "/feedback", "/export-feedback"):
            assert client.get(path).status_code == 403, path
    allowed = Settings(store_url=f"sqlite:///{tmp_path}/yard.db", host="0.0.0.0", allow_insecure=True)
    with TestClient(create_app(allowed)) as client:
        assert client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML).status_code == 201
        assert client.post("/pipelines/greet/run", json={"data": {"name": "x"}}).status_code == 200
        assert client.get("/pipelines/greet/feedback").status_code == 200


def test_open_mode_is_announced_at_start_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        create_app(Settings(store_url=f"sqlite:///{tmp_path}/yard.db"))
    assert "open development mode" in caplog.text


def test_token_lines_from_a_file_are_read(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# operators\n{ADMIN_LINE}\n\n")
    with TestClient(create_app(Settings(store_url=f"sqlite:///{tmp_path}/y.db", tokens_file=tokens))) as client:
        assert client.get("/pipelines").status_code == 401
        assert client.get("/pipelines", headers=bearer(ADMIN)).status_code == 200


@pytest.mark.parametrize(
    "line",
    [
        "nocolons",
        "x:admin:md5$00$00",
        "x:superuser:sha256$00$" + "0" * 64,
        "x::sha256$00$" + "0" * 64,
        "x:read@a*:sha256$00$" + "0" * 64,
    ],
)
def test_unusable_token_lines_are_refused(line: str) -> None:
    with pytest.raises(InvalidTokenLine):
        parse_token_line(line)


def created(name: str, scopes: str) -> tuple[str, str]:
    """`stackyard token create NAME --scopes SCOPES`: the token and the line it prints."""
    result = CliRunner().invoke(cli_app, ["token", "create", name, "--scopes", scopes])
    assert result.exit_code == 0, result.output
    token = re.search(r"token: (\S+)", result.output)
    line = re.search(r"line:  (\S+)", result.output)
    assert token is not None
    assert line is not None
    return token.group(1), line.group(1)


def test_token_create_makes_a_feedback_token_that_reads_feedback_and_nothing_else(tmp_path: Path) -> None:
    token, line = created("analyst", "feedback")
    assert parse_token_line(line).scopes == {"feedback"}
    settings = Settings(store_url=f"sqlite:///{tmp_path}/yard.db", tokens=[line, ADMIN_LINE])
    with TestClient(create_app(settings)) as client:
        client.put("/pipelines/greet", content=prompt_yaml(), headers={**YAML, **bearer(ADMIN)})
        assert client.get("/pipelines/greet/feedback", headers=bearer(token)).status_code == 200
        assert client.get("/pipelines/greet", headers=bearer(token)).status_code == 403


def test_an_unknown_scope_is_refused_naming_the_scopes_there_are() -> None:
    result = CliRunner().invoke(cli_app, ["token", "create", "x", "--scopes", "feedbacks"])
    assert result.exit_code == 2
    assert "unknown scope 'feedbacks' (use admin, run, read, feedback)" in result.output


def test_token_create_prints_a_token_and_a_line_that_accepts_it() -> None:
    token, line = created("ci", "admin,run@faq-*")
    parsed = parse_token_line(line)
    assert parsed.matches(token)
    assert parsed.name == "ci"
    assert token not in line


def test_the_client_sends_its_token(secured: TestClient) -> None:
    with Client(token=READER, http=as_httpx(secured)) as yard:
        assert [p.name for p in yard.list_pipelines()] == ["greet"]
    with Client(token="", http=as_httpx(secured)) as anonymous, pytest.raises(Unauthorized):
        anonymous.list_pipelines()
    with Client(token=READER, http=as_httpx(secured)) as reader, pytest.raises(Forbidden):
        reader.delete_pipeline("greet")
