"""Mapping problem answers to exception classes, and what importing the client costs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stackyard.client import errors
from tests.conftest import REPO

BASE = "https://stackyard.dev/problems/"


@pytest.mark.parametrize(
    ("status", "slug", "expected"),
    [
        (401, "unauthorized", errors.Unauthorized),
        (403, "forbidden", errors.Forbidden),
        (404, "pipeline-not-found", errors.PipelineNotFound),
        (412, "revision-conflict", errors.RevisionConflict),
        (422, "invalid-definition", errors.ValidationFailed),
        (422, "invalid-run-input", errors.InvalidRunInput),
        (503, "disabled", errors.PipelineDisabled),
        (503, "store-unavailable", errors.StoreUnavailable),
        (503, "store-full", errors.StoreUnavailable),
        (503, "store-read-only", errors.StoreUnavailable),
        (500, "internal-error", errors.ServerError),
    ],
)
def test_the_problem_type_slug_names_the_exception(status: int, slug: str, expected: type[errors.ApiError]) -> None:
    error = errors.error_for(status, {"type": BASE + slug, "title": "t", "detail": "d"})
    assert type(error) is expected
    assert (error.status, error.slug, str(error)) == (status, slug, "t: d")


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, errors.Unauthorized), (403, errors.Forbidden), (404, errors.RouteNotFound), (502, errors.ServerError)],
)
def test_an_unknown_slug_falls_back_to_the_status(status: int, expected: type[errors.ApiError]) -> None:
    assert type(errors.error_for(status, {"type": BASE + "something-new", "title": "t"})) is expected


@pytest.mark.parametrize("module", ["stackyard.client", "stackyard.cli"])
def test_importing_the_client_or_the_command_imports_neither_fastapi_nor_haystack(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette', 'haystack', 'uvicorn'}); "
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == ""
