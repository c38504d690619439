"""`GET /whoami` through the real app: a token learns its own name and scopes, whatever they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from stackyard.tokens import create_token


@pytest.mark.parametrize(
    ("scopes", "expected", "patterns"),
    [
        ("run@faq-*", ["run"], ["faq-*"]),
        ("read,run", ["read", "run"], []),
        ("feedback", ["feedback"], []),
        ("admin,read", ["admin"], []),
    ],
)
def test_any_valid_token_reads_its_own_scopes(
    tmp_path: Path, scopes: str, expected: list[str], patterns: list[str]
) -> None:
    token, line = create_token("someone", scopes)
    with TestClient(create_app(Settings(store_url=f"sqlite:///{tmp_path}/y.db", tokens=[line]))) as client:
        answer = client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        assert answer.json() == {
            "name": "someone",
            "scopes": expected,
            "run_patterns": patterns,
            "tokens_required": True,
        }


def test_without_a_valid_token_the_answer_is_401(tmp_path: Path) -> None:
    _, line = create_token("someone", "read")
    with TestClient(create_app(Settings(store_url=f"sqlite:///{tmp_path}/y.db", tokens=[line]))) as client:
        assert client.get("/whoami").status_code == 401
        assert client.get("/whoami", headers={"Authorization": "Bearer sy_wrong"}).status_code == 401


def test_without_tokens_configured_every_caller_may_do_everything(client: TestClient) -> None:
    assert client.get("/whoami").json() == {
        "name": None,
        "scopes": ["admin"],
        "run_patterns": [],
        "tokens_required": False,
    }


def test_open_mode_on_the_network_offers_no_management(tmp_path: Path) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/y.db", host="0.0.0.0")
    with TestClient(create_app(settings)) as client:
        assert client.get("/whoami").json()["scopes"] == ["read", "run"]


def test_the_openapi_document_says_any_token_will_do(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/whoami"]["get"]
    assert operation["description"].endswith("Scope: any valid token.")
