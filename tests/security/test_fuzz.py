"""Property-based fuzzing of the whole API from its own OpenAPI document, against a real server process.

Every operation gets generated requests, valid and not; no answer may be a 5xx, and every answer must match what
the document says about its status, content type and body.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import REPO
from tests.process.server import Server, start_server

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path: Path = tmp_path_factory.mktemp("fuzz")
    server = start_server(tmp_path, str(REPO / "examples/pipelines"), "--store", f"sqlite:///{tmp_path}/yard.db")
    yield server
    server.stop()


def test_no_generated_request_gets_a_server_error_or_breaks_the_schema(fuzzed_server: Server) -> None:
    # schemathesis' own pytest plugin does not load under pytest 9, so hypothesis drives each operation directly.
    api = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]  # type: ignore[union-attr]  # an Err fails here
    assert len(operations) >= 20
    failures: list[str] = []
    calls = 0
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case: schemathesis.Case[Any]) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as error:
            failures.append(f"{operation.label}: {str(error)[:1500]}")
    assert failures == []
    assert calls >= 5 * len(operations), "hypothesis generated requests for every operation"
