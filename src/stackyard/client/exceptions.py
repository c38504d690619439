"""Exceptions the client raises: one class per problem the server can answer, in the server's own tree.

The server answers every error as RFC 9457 problem+json whose `type` ends in a slug (`.../pipeline-not-found`). The
client maps the slug, or failing that the HTTP status, to a class here, so callers catch the condition they mean
(`except PipelineNotFound`, or `except InvalidDefinition` for every refused definition, policy refusals included)
rather than inspecting status codes. Each class has the name, slug, status and parent of its server twin in
`stackyard.errors` (a test holds them together), but the client does not import the server: it stays free of FastAPI
and Haystack.

    ClientError
    ├── ServerUnreachable            no HTTP answer at all
    ├── RolloutPending               a change with `wait="all"` was made, but not every replica serves it yet (202)
    ├── StreamInterrupted            a streamed run's answer stopped before its result or error
    └── ApiError                     the server answered an error (`status`, `title`, `detail`, the whole `problem`)
        ├── InvalidRequest ── InvalidPipelineName
        ├── RequestNotValid, Unauthorized, Forbidden ── InsecureOpenMode
        ├── RouteNotFound, PipelineNotFound, RevisionNotFound, FeedbackNotFound, MethodNotAllowed
        ├── BodyTimeout, TooManyPipelines, RevisionConflict, UnsupportedMediaType
        ├── BodyTooLarge ── DefinitionTooLarge, FileTooLarge
        ├── InvalidDefinition ── PolicyViolation, BuildTimeout, SimulationRefused
        ├── InvalidRunInput ── InputRejected, NoFileInput
        ├── InvalidFilters, NoDocumentStore, AmbiguousDocumentStore, TooManyRuns, ClientClosedRequest
        ├── RunFailed ── RunContained
        ├── PipelineUnavailable ── PipelineDisabled, StoreUnavailable ── StoreFull, StoreReadOnly
        ├── RunTimeout
        └── ServerError                any other 5xx (a proxy's 502, say) ── InternalError
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from stackyard.client.models import Rollout

__all__ = [
    "AmbiguousDocumentStore",
    "ApiError",
    "BodyTimeout",
    "BodyTooLarge",
    "BuildTimeout",
    "ClientClosedRequest",
    "ClientError",
    "DefinitionTooLarge",
    "FeedbackNotFound",
    "FileTooLarge",
    "Forbidden",
    "InputRejected",
    "InsecureOpenMode",
    "InternalError",
    "InvalidDefinition",
    "InvalidFilters",
    "InvalidPipelineName",
    "InvalidRequest",
    "InvalidRunInput",
    "MethodNotAllowed",
    "NoDocumentStore",
    "NoFileInput",
    "PipelineCrashing",
    "PipelineDisabled",
    "PipelineNotFound",
    "PipelineUnavailable",
    "PolicyViolation",
    "RequestNotValid",
    "RevisionConflict",
    "RevisionNotFound",
    "RolloutPending",
    "RouteNotFound",
    "RunContained",
    "RunFailed",
    "RunNotStarted",
    "RunTimeout",
    "ServerError",
    "ServerUnreachable",
    "SimulationRefused",
    "StoreFull",
    "StoreReadOnly",
    "StoreUnavailable",
    "StreamInterrupted",
    "TooManyPipelines",
    "TooManyRuns",
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


class RolloutPending(ClientError):
    """The change was made (it is stored and this replica serves it), but within the wait not every replica did.

    `rollout` says which replica stands where; retry `rollout(name)` to follow it.
    """

    def __init__(self, rollout: Rollout) -> None:
        pending = [replica.id for replica in rollout.replicas if not replica.applied]
        super().__init__(f"Pipeline '{rollout.pipeline}' changed; replicas not serving it yet: {', '.join(pending)}")
        self.rollout = rollout


class StreamInterrupted(ClientError):
    """A streamed run's answer stopped before its last event (the result or an error): the connection dropped.

    The run's outcome is unknown here; its chunks so far were delivered. Run it again to get a result.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"The stream from {url} stopped before the run's result: {reason}")
        self.url = url
        self.reason = reason


class ApiError(ClientError):
    """The server answered with an error; `problem` is its problem+json body (or one made up from the status)."""

    problem_slug: ClassVar[str] = ""  # the problem type this class is raised for (empty: none of its own)
    status_code: ClassVar[int] = 0  # the status of that problem type

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type = str(problem.get("type", "about:blank"))
        self.title = str(problem.get("title", f"HTTP {status}"))
        self.detail = str(problem.get("detail", ""))
        super().__init__(f"{self.title}: {self.detail}" if self.detail else self.title)

    @property
    def slug(self) -> str:
        """The problem type the server answered (its last path segment), whatever class it mapped to."""
        return self.type.rstrip("/").rsplit("/", 1)[-1]

    @property
    def problems(self) -> list[dict[str, Any]]:
        """Per-item problems of a refused apply (`[{name, title, detail, ...}]`), empty otherwise."""
        items = self.problem.get("problems")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


# -- the request itself ----------------------------------------------------------------------------------------------


class InvalidRequest(ApiError):
    """400: the request is not well formed."""

    problem_slug, status_code = "invalid-request", 400


class InvalidPipelineName(InvalidRequest):
    problem_slug = "invalid-pipeline-name"


class RequestNotValid(ApiError):
    """422: the request does not fit the API document; `problem["errors"]` lists each misfit."""

    problem_slug, status_code = "request-not-valid", 422


class Unauthorized(ApiError):
    """401: the token is missing or not valid."""

    problem_slug, status_code = "unauthorized", 401


class Forbidden(ApiError):
    """403: the token is valid but lacks the scope this call needs."""

    problem_slug, status_code = "forbidden", 403


class InsecureOpenMode(Forbidden):
    """403: the server has no tokens and listens beyond loopback, so it refuses management."""

    problem_slug = "insecure-open-mode"


class RouteNotFound(ApiError):
    """404 on the route itself: the server is older than this client, or the feature is not enabled there."""

    problem_slug, status_code = "not-found", 404


class PipelineNotFound(ApiError):
    problem_slug, status_code = "pipeline-not-found", 404


class RevisionNotFound(ApiError):
    problem_slug, status_code = "revision-not-found", 404


class FeedbackNotFound(ApiError):
    problem_slug, status_code = "feedback-not-found", 404


class MethodNotAllowed(ApiError):
    problem_slug, status_code = "method-not-allowed", 405


class RevisionConflict(ApiError):
    """412: the pipeline changed since the revision you named (If-Match / If-None-Match)."""

    problem_slug, status_code = "revision-conflict", 412


class BodyTimeout(ApiError):
    problem_slug, status_code = "body-timeout", 408


class ClientClosedRequest(ApiError):
    problem_slug, status_code = "client-closed-request", 499


class TooManyPipelines(ApiError):
    problem_slug, status_code = "too-many-pipelines", 409


class BodyTooLarge(ApiError):
    problem_slug, status_code = "body-too-large", 413


class DefinitionTooLarge(BodyTooLarge):
    problem_slug = "definition-too-large"


class FileTooLarge(BodyTooLarge):
    problem_slug = "file-too-large"


class UnsupportedMediaType(ApiError):
    problem_slug, status_code = "unsupported-media-type", 415


# -- definitions -----------------------------------------------------------------------------------------------------


class InvalidDefinition(ApiError):
    """422: a definition cannot become a working pipeline; `problems` lists each refused member of an apply."""

    problem_slug, status_code = "invalid-definition", 422


ValidationFailed = InvalidDefinition  # its earlier name


class PolicyViolation(InvalidDefinition):
    """422: valid Haystack, refused by the server's policy (`problem["rule"]` names the rule)."""

    problem_slug = "policy-violation"


class BuildTimeout(InvalidDefinition):
    problem_slug = "build-timeout"


class SimulationRefused(InvalidDefinition):
    problem_slug = "simulation-refused"


# -- runs, files and documents ---------------------------------------------------------------------------------------


class InvalidRunInput(ApiError):
    problem_slug, status_code = "invalid-run-input", 422


class InputRejected(InvalidRunInput):
    problem_slug = "input-rejected"


class NoFileInput(InvalidRunInput):
    problem_slug = "no-file-input"


class InvalidFilters(ApiError):
    problem_slug, status_code = "invalid-filters", 422


class NoDocumentStore(ApiError):
    problem_slug, status_code = "no-document-store", 422


class AmbiguousDocumentStore(ApiError):
    problem_slug, status_code = "ambiguous-document-store", 422


class TooManyRuns(ApiError):
    """429: the pipeline runs and queues all it may; `Retry-After` says when to try again."""

    problem_slug, status_code = "too-many-runs", 429


class PipelineCrashing(TooManyRuns):
    """429: the pipeline's runs keep ending their cells; refused for a while (`Retry-After`)."""

    problem_slug = "pipeline-crashing"


class ServerError(ApiError):
    """Any 5xx without a problem type of its own (a proxy's 502, say)."""


class InternalError(ServerError):
    problem_slug, status_code = "internal-error", 500


class RunFailed(ApiError):
    problem_slug, status_code = "run-failed", 500


class RunContained(RunFailed):
    problem_slug, status_code = "run-contained", 500


class PipelineUnavailable(ApiError):
    problem_slug, status_code = "pipeline-unavailable", 503


class PipelineDisabled(PipelineUnavailable):
    problem_slug = "disabled"


class RunNotStarted(PipelineUnavailable):
    """503: no cell could take the run in time; `Retry-After` says when to try again."""

    problem_slug = "run-not-started"


class RunTimeout(ApiError):
    problem_slug, status_code = "run-timeout", 504


class StoreUnavailable(ApiError):
    """503: the store cannot take the change now (unreachable, disk full, read-only); `Retry-After` says when."""

    problem_slug, status_code = "store-unavailable", 503


class StoreFull(StoreUnavailable):
    problem_slug = "store-full"


class StoreReadOnly(StoreUnavailable):
    problem_slug = "store-read-only"


def _problem_types(base: type[ApiError]) -> list[type[ApiError]]:
    found = []
    for cls in base.__subclasses__():
        found.extend([cls, *_problem_types(cls)])
    return found


PROBLEM_TYPES: dict[str, type[ApiError]] = {
    cls.problem_slug: cls for cls in _problem_types(ApiError) if cls.problem_slug
}
"""Slug -> the class raised for it."""
# When the body is not a problem we know (a proxy's HTML page, a newer server's new slug), the status decides.
_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: RouteNotFound,
    405: MethodNotAllowed,
    412: RevisionConflict,
    413: BodyTooLarge,
    415: UnsupportedMediaType,
    422: RequestNotValid,
    429: TooManyRuns,
}


def error_for(status: int, problem: dict[str, Any]) -> ApiError:
    """The exception for an error answer: by the problem type's slug, else by status."""
    slug = str(problem.get("type", "")).rstrip("/").rsplit("/", 1)[-1]
    cls = PROBLEM_TYPES.get(slug) or _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(status, problem)
