"""compose.yaml, checked without a Docker engine: the Compose Specification's schema, the settings it passes, and a
server started from a replica's environment and token file."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from stackyard import startup
from stackyard.api import create_app
from stackyard.settings import Settings
from stackyard.tokens import create_token
from tests.conftest import REPO
from tests.shipping.server_contract import graceful_shutdown_seconds, interpolate, server_variables, unknown

COMPOSE = REPO / "compose.yaml"
REPLICAS = ("stackyard-1", "stackyard-2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # merge keys (<<) resolved, as Compose does
    assert isinstance(document, dict)
    return document


def environment(compose: dict[str, Any], service: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    values = compose["services"][service]["environment"]
    return {name: interpolate(value, environ or {}) for name, value in values.items()}


def test_compose_yaml_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    # The Compose Specification's own schema, as check-jsonschema ships it (compose-spec/compose-spec, Apache-2.0).
    schema = json.loads(files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text())
    errors = [
        f"{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in Draft202012Validator(schema).iter_errors(compose)
    ]
    assert errors == []


def test_the_replicas_start_after_postgresql_is_healthy_and_report_readiness(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name in REPLICAS:
        service = services[name]
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["read_only"] is True
        assert "/tmp" in " ".join(service["tmpfs"])
    assert sorted(services[name]["ports"][0] for name in REPLICAS) == ["8001:8000", "8002:8000"]


def test_the_stop_grace_period_outlasts_the_servers_own_shutdown(compose: dict[str, Any]) -> None:
    grace = {name: compose["services"][name]["stop_grace_period"] for name in REPLICAS}
    assert all(
        period.endswith("s") and int(period[:-1]) >= graceful_shutdown_seconds() + 10 for period in grace.values()
    ), grace


def test_the_replicas_set_only_real_settings_and_each_parses(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in REPLICAS:
        variables = environment(compose, name)
        assert unknown(variables, server_variables()) == []
        for variable, value in variables.items():
            monkeypatch.setenv(variable, value)
        settings = Settings()
        assert settings.store_url.startswith("postgresql://stackyard:")
        assert settings.replica_id == name


def test_the_token_file_is_the_mounted_secret_and_stays_out_of_git(compose: dict[str, Any]) -> None:
    for name in REPLICAS:
        (secret,) = compose["services"][name]["secrets"]
        assert environment(compose, name)["STACKYARD_TOKENS_FILE"] == f"/run/secrets/{secret}"
    source = Path(compose["secrets"]["stackyard_tokens"]["file"])
    assert source.as_posix().removeprefix("./") in (REPO / ".gitignore").read_text().splitlines()
    # The example beside it is all comments: it configures no token.
    example = REPO / source.parent / "tokens.example.txt"
    assert Settings(tokens_file=example).token_lines() == []


def test_a_replica_with_its_token_file_starts_on_every_address_and_takes_changes(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    token, line = create_token("deployer", "admin")
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{line}\n")
    variables = environment(compose, "stackyard-1")
    settings = Settings(
        host="0.0.0.0",  # as the image sets it; nothing is bound here, the app is called in-process
        store_url=f"sqlite:///{tmp_path}/yard.db",  # PostgreSQL is the service's; the rest is the file's
        tokens_file=tokens,
        run_workers=int(variables["STACKYARD_RUN_WORKERS"]),
        replica_id=variables["STACKYARD_REPLICA_ID"],
    )
    startup.check(settings)
    greeting = (REPO / "examples/pipelines/greet.yml").read_text()
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        refused = client.put("/pipelines/hello", content=greeting, headers={"Content-Type": "application/yaml"})
        assert refused.status_code == 401
        created = client.put(
            "/pipelines/hello",
            content=greeting,
            headers={"Content-Type": "application/yaml", "Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
