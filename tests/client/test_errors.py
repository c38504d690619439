"""Mapping problem answers to exception classes, and what importing the client costs."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import stackyard
from stackyard import errors as server
from stackyard.client import exceptions as errors
from tests.conftest import REPO

BASE = "https://stackyard.dev/problems/"


@pytest.mark.parametrize(
    ("status", "slug", "expected"),
    [
        (401, "unauthorized", errors.Unauthorized),
        (403, "forbidden", errors.Forbidden),
        (404, "pipeline-not-found", errors.PipelineNotFound),
        (412, "revision-conflict", errors.RevisionConflict),
        (422, "invalid-definition", errors.InvalidDefinition),
        (422, "policy-violation", errors.PolicyViolation),
        (422, "invalid-run-input", errors.InvalidRunInput),
        (503, "disabled", errors.PipelineDisabled),
        (503, "store-unavailable", errors.StoreUnavailable),
        (503, "store-full", errors.StoreFull),
        (503, "store-read-only", errors.StoreReadOnly),
        (500, "internal-error", errors.InternalError),
    ],
)
def test_the_problem_type_slug_names_the_exception(status: int, slug: str, expected: type[errors.ApiError]) -> None:
    error = errors.error_for(status, {"type": BASE + slug, "title": "t", "detail": "d"})
    assert type(error) is expected
    assert (error.status, error.slug, str(error)) == (status, slug, "t: d")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.RouteNotFound),
        (422, errors.RequestNotValid),
        (502, errors.ServerError),
    ],
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


def _server_problem_types() -> list[type[server.StackyardError]]:
    # Every module imported first, so a problem type defined anywhere at all is found.
    for module in pkgutil.walk_packages(stackyard.__path__, "stackyard."):
        if not module.name.endswith("__main__"):  # that one runs the command
            importlib.import_module(module.name)

    def below(cls: type[server.StackyardError]) -> list[type[server.StackyardError]]:
        return [found for sub in cls.__subclasses__() for found in (sub, *below(sub))]

    # The server's own: a test may make one of its own to see how the server answers it.
    return [kind for kind in below(server.StackyardError) if kind.__module__.split(".")[0] == "stackyard"]


def test_every_problem_type_is_defined_in_the_one_module_of_problems() -> None:
    kinds = _server_problem_types()
    assert len(kinds) >= 35
    assert {kind.__module__ for kind in kinds} == {"stackyard.errors"}
    assert len({kind.slug for kind in kinds}) == len(kinds), "each problem type has a slug of its own"


def test_the_client_raises_its_own_class_for_every_problem_type_the_server_sends() -> None:
    twins: dict[type[server.StackyardError], type[errors.ApiError]] = {server.StackyardError: errors.ApiError}
    for kind in _server_problem_types():
        twin = getattr(errors, kind.__name__, None)
        assert twin is not None, f"the client has no class for {kind.__name__}"
        twins[kind] = twin
        assert (twin.problem_slug, twin.status_code) == (kind.slug, kind.status)
        assert issubclass(twin, twins[kind.__mro__[1]]), f"{kind.__name__} sits where it does on the server"
        raised = errors.error_for(kind.status, kind("what happened").to_problem("/somewhere"))
        assert type(raised) is twin
        assert (raised.status, raised.slug, raised.detail) == (kind.status, kind.slug, "what happened")


def test_the_client_knows_no_problem_type_the_server_never_sends() -> None:
    assert set(errors.PROBLEM_TYPES) == {kind.slug for kind in _server_problem_types()}
