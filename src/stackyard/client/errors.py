"""Exceptions the client raises, one class per problem the server can answer.

The server answers every error as RFC 9457 problem+json whose `type` ends in a slug (`.../pipeline-not-found`). The
client maps the slug, or failing that the HTTP status, to a class here, so callers catch the condition they mean
(`except PipelineNotFound`) rather than inspecting status codes. These classes mirror the server's conditions by name
but do not import the server: the client stays free of FastAPI and Haystack.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ApiError",
    "ClientError",
    "DefinitionTooLarge",
    "Forbidden",
    "InvalidPipelineName",
    "InvalidRequest",
    "InvalidRunInput",
    "PipelineDisabled",
    "PipelineNotFound",
    "PipelineUnavailable",
    "RevisionConflict",
    "RevisionNotFound",
    "RouteNotFound",
    "RunFailed",
    "ServerError",
    "ServerUnreachable",
    "StoreUnavailable",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
    "error_for",
]


class ClientError(Exception):
    """Base of everything the client raises."""


class ServerUnreachable(ClientError):
    """No HTTP answer at all: connection refused, DNS failure, timeout."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"Cannot reach the Stackyard server at {url}: {reason}")
        self.url = url
        self.reason = reason


class ApiError(ClientError):
    """The server answered with an error; `problem` is its problem+json body (or one made up from the status)."""

    slugs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type = str(problem.get("type", "about:blank"))
        self.title = str(problem.get("title", f"HTTP {status}"))
        self.detail = str(problem.get("detail", ""))
        super().__init__(f"{self.title}: {self.detail}" if self.detail else self.title)

    @property
    def slug(self) -> str:
        return self.type.rstrip("/").rsplit("/", 1)[-1]

    @property
    def problems(self) -> list[dict[str, Any]]:
        """Per-item problems of a refused apply (`[{name, title, detail, ...}]`), empty otherwise."""
        items = self.problem.get("problems")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


class InvalidRequest(ApiError):
    slugs: ClassVar[tuple[str, ...]] = ("invalid-request", "request-not-valid", "http-error", "method-not-allowed")


class InvalidPipelineName(InvalidRequest):
    slugs = ("invalid-pipeline-name",)


class Unauthorized(ApiError):
    """401: the token is missing or not valid."""

    slugs = ("unauthorized", "unauthenticated", "invalid-token")


class Forbidden(ApiError):
    """403: the token is valid but lacks the scope this call needs."""

    slugs = ("forbidden", "insufficient-scope")


class PipelineNotFound(ApiError):
    slugs = ("pipeline-not-found",)


class RevisionNotFound(ApiError):
    slugs = ("revision-not-found",)


class RouteNotFound(ApiError):
    """404 on the route itself: the server is older than this client or the feature is not enabled there."""

    slugs = ("not-found",)


class RevisionConflict(ApiError):
    """412: the pipeline changed since the revision you named (If-Match / If-None-Match)."""

    slugs = ("revision-conflict",)


class DefinitionTooLarge(ApiError):
    slugs = ("definition-too-large",)


class UnsupportedMediaType(ApiError):
    slugs = ("unsupported-media-type",)


class ValidationFailed(ApiError):
    """422: a definition cannot become a working pipeline; `problems` lists each refused member of an apply."""

    slugs = ("invalid-definition", "build-timeout", "simulation-refused")


class InvalidRunInput(ApiError):
    slugs = ("invalid-run-input",)


class RunFailed(ApiError):
    slugs = ("run-failed",)


class PipelineUnavailable(ApiError):
    slugs: ClassVar[tuple[str, ...]] = ("pipeline-unavailable",)


class PipelineDisabled(PipelineUnavailable):
    slugs = ("disabled",)


class StoreUnavailable(ApiError):
    """503: the store cannot take the change now (unreachable, disk full, read-only); `Retry-After` says when."""

    slugs = ("store-unavailable", "store-full", "store-read-only")


class ServerError(ApiError):
    """Any other 5xx, including the server's `internal-error`."""

    slugs = ("internal-error",)


_BY_SLUG: dict[str, type[ApiError]] = {
    slug: cls
    for cls in (
        InvalidRequest,
        InvalidPipelineName,
        Unauthorized,
        Forbidden,
        PipelineNotFound,
        RevisionNotFound,
        RouteNotFound,
        RevisionConflict,
        DefinitionTooLarge,
        UnsupportedMediaType,
        ValidationFailed,
        InvalidRunInput,
        RunFailed,
        PipelineUnavailable,
        PipelineDisabled,
        StoreUnavailable,
        ServerError,
    )
    for slug in cls.slugs
}
# When the body is not a problem we know (a proxy's HTML page, a newer server's new slug), the status decides.
_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: RouteNotFound,
    412: RevisionConflict,
    413: DefinitionTooLarge,
    415: UnsupportedMediaType,
    422: InvalidRequest,
}


def error_for(status: int, problem: dict[str, Any]) -> ApiError:
    """The exception for an error answer: by the problem type's slug, else by status."""
    slug = str(problem.get("type", "")).rstrip("/").rsplit("/", 1)[-1]
    cls = _BY_SLUG.get(slug) or _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(status, problem)
