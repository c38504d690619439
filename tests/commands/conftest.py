"""One real `stackyard serve` process per module; each test starts from an empty server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from stackyard.cli import app
from stackyard.client import Client
from tests.process.server import Server, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    process = start_server(tmp_path_factory.mktemp("server"))
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def yard(server: Server) -> Iterator[Client]:
    with Client(server.url) as client:
        for pipeline in client.list_pipelines():
            client.delete_pipeline(pipeline.name)
        yield client


class Stackyard:
    """Runs `stackyard ...` in-process against the test server, as a user's shell would with STACKYARD_URL set."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.runner = CliRunner()

    def __call__(self, *args: str | Path) -> Result:
        return self.runner.invoke(app, [str(arg) for arg in args], env={"STACKYARD_URL": self.url})


@pytest.fixture
def stackyard(server: Server, yard: Client) -> Stackyard:
    return Stackyard(server.url)
