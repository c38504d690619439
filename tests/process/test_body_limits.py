"""A chunked body over the limit, sent to a real server with a pause: refused while it is read, and nothing changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process.server import running
from tests.yamls import prompt_yaml

pytestmark = pytest.mark.process

LIMIT = 2000


def _valid_yaml_then_more() -> Iterator[bytes]:
    # The first chunk alone is a complete, valid definition under the limit; the rest (a YAML comment) passes it.
    first = prompt_yaml().encode() + b"# " + b"x" * (LIMIT - 400) + b"\n"
    assert len(first) < LIMIT
    yield first
    time.sleep(0.3)  # a slow client: the server has surely read the first chunk before the rest arrives
    yield b"# " + b"y" * LIMIT + b"\n"


@pytest.mark.parametrize(
    ("content_type", "path"),
    [("application/yaml", "/pipelines/sneaky"), ("application/json", "/pipelines/sneaky/run")],
)
def test_a_chunked_body_over_the_limit_is_413_and_changes_nothing(tmp_path: Path, content_type: str, path: str) -> None:
    with running(tmp_path, env={"STACKYARD_MAX_BODY_BYTES": str(LIMIT)}) as server, server.client() as client:
        answer = client.request(
            "PUT" if path == "/pipelines/sneaky" else "POST",
            path,
            content=_valid_yaml_then_more(),
            headers={"Content-Type": content_type},
        )
        assert "content-length" not in answer.request.headers  # sent chunked
        assert (answer.status_code, answer.json()["type"]) == (413, "https://stackyard.dev/problems/body-too-large")
        assert client.get("/pipelines/sneaky").status_code == 404
        assert client.get("/audit").json()["entries"] == []
        # The server goes on serving.
        created = client.put("/pipelines/ok", content=prompt_yaml(), headers={"Content-Type": "application/yaml"})
        assert created.status_code == 201
