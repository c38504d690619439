"""The one error base of Stackyard, and the conditions named after it.

Every expected failure is a `StackyardError` subclass that carries its HTTP status and a problem type; the API renders
each as RFC 9457 problem+json. Messages say what happened and what to do next, and never carry secret values.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://stackyard.dev/problems/"
MAX_DETAIL_CHARS = 500


def trim(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """Shorten text taken from Haystack or a user so a problem never echoes a large payload back."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StackyardError(Exception):
    """Base of every expected failure: a status, a problem type slug, a title and a detail."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    headers: ClassVar[dict[str, str] | None] = None  # sent with the problem, e.g. Retry-After

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = trim(detail)
        self.extensions = extensions

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 body: type, title, status, detail, plus this condition's own members."""
        problem: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            problem["instance"] = instance
        problem.update(self.extensions)
        return problem


class InvalidRequest(StackyardError):
    status = 400
    slug = "invalid-request"
    title = "The request is not well formed"


class RequestNotValid(StackyardError):
    """A well-formed request whose parameters or body do not fit the API document (each misfit in `errors`)."""

    status = 422
    slug = "request-not-valid"
    title = "The request does not fit the API"


class InvalidPipelineName(StackyardError):
    status = 400
    slug = "invalid-pipeline-name"
    title = "The pipeline name is not allowed"


class PipelineNotFound(StackyardError):
    status = 404
    slug = "pipeline-not-found"
    title = "No such pipeline"


class RevisionNotFound(StackyardError):
    status = 404
    slug = "revision-not-found"
    title = "No such revision"


class RevisionConflict(StackyardError):
    """The caller's idea of the live revision is stale (If-Match / If-None-Match)."""

    status = 412
    slug = "revision-conflict"
    title = "The pipeline changed since you read it"


class DefinitionTooLarge(StackyardError):
    status = 413
    slug = "definition-too-large"
    title = "The definition is too large"


class BodyTooLarge(StackyardError):
    """A request body over the server's limit: refused while it is read, so nothing acts on part of it."""

    status = 413
    slug = "body-too-large"
    title = "The request body is too large"


class UnsupportedMediaType(StackyardError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported content type"


class InvalidDefinition(StackyardError):
    """A definition that cannot become a working pipeline: syntax, structure, components, connections, mapping."""

    status = 422
    slug = "invalid-definition"
    title = "The pipeline definition is not valid"


class InvalidRunInput(StackyardError):
    status = 422
    slug = "invalid-run-input"
    title = "The run inputs do not fit the pipeline"


class InputRejected(StackyardError):
    """A component raised ValueError or TypeError on the values it was given."""

    status = 422
    slug = "input-rejected"
    title = "A component refused the run inputs"


class PipelineUnavailable(StackyardError):
    """The pipeline is stored but this process has no working build of it (its build failed here)."""

    status = 503
    slug = "pipeline-unavailable"
    title = "The pipeline is not available on this server"


class RunFailed(StackyardError):
    """A component raised while running; the pipeline, not the server, failed."""

    status = 500
    slug = "run-failed"
    title = "The pipeline run failed"


class BuildTimeout(StackyardError):
    status = 422
    slug = "build-timeout"
    title = "Building the pipeline took too long"


class StoreUnavailable(StackyardError):
    """The store cannot take the call now (unreachable, locked, failing); live pipelines keep serving meanwhile.

    The conditions below are kinds of it, so code that handles one handles them all; each names its own cause.
    """

    status = 503
    slug = "store-unavailable"
    title = "The definition store cannot be reached"
    # A replica reconnects within about a second of the database's return (`store/postgres.py`).
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "2"}


class StoreFull(StoreUnavailable):
    """The store's disk has no room for the write; nothing of it was kept. Writes work again once space is freed."""

    slug = "store-full"
    title = "The definition store's disk is full"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "30"}  # space comes back by an operator's hand


class StoreReadOnly(StoreUnavailable):
    """The store's file or folder cannot be written (read-only mount, permissions)."""

    slug = "store-read-only"
    title = "The definition store cannot be written"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "30"}


class PipelineDisabled(StackyardError):
    """The pipeline exists but was switched off with PATCH {"enabled": false}."""

    status = 503
    slug = "disabled"
    title = "The pipeline is disabled"
