"""Fixtures shared by the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import yard
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def live(client: TestClient, app: FastAPI) -> Iterator[TestClient]:
    """A client with pipeline 'target' live at revision 1; after the test, it must still be exactly that."""
    assert client.put("/pipelines/target", content=prompt_yaml(), headers=YAML).status_code == 201
    before = yard(app).registry.get("target")
    yield client
    after = client.get("/pipelines/target", headers={"Accept": "application/yaml"})
    assert (after.status_code, after.text, after.headers["etag"]) == (200, prompt_yaml(), '"1"')
    assert yard(app).registry.get("target") is before
    assert client.post("/pipelines/target/run", json={"data": {"name": "x"}}).json()["revision"] == 1
