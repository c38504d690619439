"""Every problem Stackyard answers, in one place: the error base and the conditions named after it.

Each is a `StackyardError` subclass that carries its HTTP status and its problem type (the slug after
`https://stackyard.dev/problems/`); the API renders each as RFC 9457 problem+json, from one handler. Messages say what
happened and what to do next, and never carry secret values. The Python client (`stackyard.client.exceptions`) has a
class of the same name for each, in the same tree; a test holds the two together.

    StackyardError
    ├── InvalidRequest               400 invalid-request: not well formed (JSON that does not parse, a bad header)
    │   └── InvalidPipelineName      400 invalid-pipeline-name
    ├── RequestNotValid              422 request-not-valid: well formed, but does not fit the API document
    ├── Unauthorized                 401 unauthorized: no token, or not a valid one
    ├── Forbidden                    403 forbidden: the token lacks the scope
    │   └── InsecureOpenMode         403 insecure-open-mode: no tokens, and management on a non-loopback address
    ├── RouteNotFound                404 not-found: no such route
    ├── PipelineNotFound             404 pipeline-not-found
    ├── RevisionNotFound             404 revision-not-found
    ├── FeedbackNotFound             404 feedback-not-found
    ├── MethodNotAllowed             405 method-not-allowed (with Allow)
    ├── BodyTimeout                  408 body-timeout: the body stalled past the read timeout
    ├── TooManyPipelines             409 too-many-pipelines: STACKYARD_MAX_PIPELINES reached
    ├── RevisionConflict             412 revision-conflict: If-Match / If-None-Match
    ├── BodyTooLarge                 413 body-too-large
    │   ├── DefinitionTooLarge       413 definition-too-large
    │   └── FileTooLarge             413 file-too-large
    ├── UnsupportedMediaType         415 unsupported-media-type
    ├── InvalidDefinition            422 invalid-definition: cannot become a working pipeline
    │   ├── PolicyViolation          422 policy-violation: valid Haystack, refused by this server's policy
    │   ├── BuildTimeout             422 build-timeout
    │   └── SimulationRefused        422 simulation-refused: /validate would run writers
    ├── InvalidRunInput              422 invalid-run-input: the inputs do not fit the pipeline
    │   ├── InputRejected            422 input-rejected: a component refused the values
    │   └── NoFileInput              422 no-file-input: the pipeline takes no files
    ├── InvalidFilters               422 invalid-filters: document filters
    ├── NoDocumentStore              422 no-document-store
    ├── AmbiguousDocumentStore       422 ambiguous-document-store
    ├── TooManyRuns                  429 too-many-runs (with Retry-After)
    │   └── PipelineCrashing         429 pipeline-crashing: its runs keep ending their cells
    ├── ClientClosedRequest          499 client-closed-request: the client left before its body was complete
    ├── InternalError                500 internal-error: unexpected; the server logged it
    ├── RunFailed                    500 run-failed: a component raised
    │   └── RunContained             500 run-contained: component code tried what the cell's rules refuse
    ├── PipelineUnavailable          503 pipeline-unavailable: stored, but no working build on this process
    │   ├── PipelineDisabled         503 disabled
    │   └── RunNotStarted            503 run-not-started: the run could not start before its deadline (Retry-After)
    ├── StoreUnavailable             503 store-unavailable (with Retry-After)
    │   ├── StoreFull                503 store-full
    │   └── StoreReadOnly            503 store-read-only
    └── RunTimeout                   504 run-timeout
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
    """Base of every problem the server answers: a status, a problem type slug, a title and a detail."""

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


# -- the request itself ----------------------------------------------------------------------------------------------


class InvalidRequest(StackyardError):
    """The request is not well formed: a body that does not parse, a header that cannot be read."""

    status = 400
    slug = "invalid-request"
    title = "The request is not well formed"


class InvalidPipelineName(InvalidRequest):
    slug = "invalid-pipeline-name"
    title = "The pipeline name is not allowed"


class RequestNotValid(StackyardError):
    """A well-formed request whose parameters or body do not fit the API document (each misfit in `errors`)."""

    status = 422
    slug = "request-not-valid"
    title = "The request does not fit the API"


class Unauthorized(StackyardError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": 'Bearer realm="stackyard"'}


class Forbidden(StackyardError):
    status = 403
    slug = "forbidden"
    title = "Missing scope"


class InsecureOpenMode(Forbidden):
    """No tokens are configured and the server listens beyond loopback: management would be open to the network."""

    slug = "insecure-open-mode"
    title = "Management is closed on this address"


class RouteNotFound(StackyardError):
    status = 404
    slug = "not-found"
    title = "Not Found"


class PipelineNotFound(StackyardError):
    status = 404
    slug = "pipeline-not-found"
    title = "No such pipeline"


class RevisionNotFound(StackyardError):
    status = 404
    slug = "revision-not-found"
    title = "No such revision"


class FeedbackNotFound(StackyardError):
    status = 404
    slug = "feedback-not-found"
    title = "No such feedback"


class MethodNotAllowed(StackyardError):
    status = 405
    slug = "method-not-allowed"
    title = "Method Not Allowed"


class TooManyPipelines(StackyardError):
    """Creating a pipeline on a server that holds its maximum: nothing was stored."""

    status = 409
    slug = "too-many-pipelines"
    title = "Too many pipelines"


class RevisionConflict(StackyardError):
    """The caller's idea of the live revision is stale (If-Match / If-None-Match)."""

    status = 412
    slug = "revision-conflict"
    title = "The pipeline changed since you read it"


class BodyTimeout(StackyardError):
    """A request body that stopped arriving: dropped after the read timeout, whatever had come of it."""

    status = 408
    slug = "body-timeout"
    title = "The request body did not arrive in time"


class ClientClosedRequest(StackyardError):
    """The client closed the connection before its body was complete. Nobody reads the answer; the status (nginx's
    499) only says, in the request log, that this was the client's doing, not a failure of the server."""

    status = 499
    slug = "client-closed-request"
    title = "The client closed the request"


class BodyTooLarge(StackyardError):
    """A request body over the server's limit: refused while it is read, so nothing acts on part of it."""

    status = 413
    slug = "body-too-large"
    title = "The request body is too large"


class DefinitionTooLarge(BodyTooLarge):
    slug = "definition-too-large"
    title = "The definition is too large"


class FileTooLarge(BodyTooLarge):
    slug = "file-too-large"
    title = "A file is too large"


class UnsupportedMediaType(StackyardError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported content type"


# -- definitions -----------------------------------------------------------------------------------------------------


class InvalidDefinition(StackyardError):
    """A definition that cannot become a working pipeline: syntax, structure, components, connections, mapping."""

    status = 422
    slug = "invalid-definition"
    title = "The pipeline definition is not valid"


class PolicyViolation(InvalidDefinition):
    """The definition is valid Haystack, but this server's policy refuses it."""

    slug = "policy-violation"
    title = "The definition breaks this server's policy"


class BuildTimeout(InvalidDefinition):
    slug = "build-timeout"
    title = "Building the pipeline took too long"


class SimulationRefused(InvalidDefinition):
    slug = "simulation-refused"
    title = "The candidate writes to a document store"


# -- runs, files and documents ---------------------------------------------------------------------------------------


class InvalidRunInput(StackyardError):
    status = 422
    slug = "invalid-run-input"
    title = "The run inputs do not fit the pipeline"


class InputRejected(InvalidRunInput):
    """A component raised ValueError or TypeError on the values it was given."""

    slug = "input-rejected"
    title = "A component refused the run inputs"


class NoFileInput(InvalidRunInput):
    slug = "no-file-input"
    title = "The pipeline takes no files"


class InvalidFilters(StackyardError):
    status = 422
    slug = "invalid-filters"
    title = "The filters are not valid"


class NoDocumentStore(StackyardError):
    status = 422
    slug = "no-document-store"
    title = "The pipeline has no document store"


class AmbiguousDocumentStore(StackyardError):
    status = 422
    slug = "ambiguous-document-store"
    title = "The pipeline has several document stores"


class TooManyRuns(StackyardError):
    status = 429
    slug = "too-many-runs"
    title = "The pipeline is busy"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "1"}


class PipelineCrashing(TooManyRuns):
    """The pipeline's runs keep ending their cells; its runs are refused for a while."""

    slug = "pipeline-crashing"
    title = "The pipeline's runs keep crashing their cells"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "60"}


class InternalError(StackyardError):
    """Anything unexpected: the server logged it; the answer says no more."""


class RunFailed(StackyardError):
    """A component raised while running; the pipeline, not the server, failed."""

    status = 500
    slug = "run-failed"
    title = "The pipeline run failed"


class RunContained(RunFailed):
    """Component code tried to reach a host, a file or a program its worker's rules refuse (`rule` names which)."""

    slug = "run-contained"
    title = "The run tried something this server does not allow"


class PipelineUnavailable(StackyardError):
    """The pipeline is stored but this process has no working build of it (its build failed here)."""

    status = 503
    slug = "pipeline-unavailable"
    title = "The pipeline is not available on this server"


class PipelineDisabled(PipelineUnavailable):
    """The pipeline exists but was switched off with PATCH {"enabled": false}."""

    slug = "disabled"
    title = "The pipeline is disabled"


class RunNotStarted(PipelineUnavailable):
    """The run could not start before its deadline: its pipeline's slots stayed full, or its cells were being
    replaced. Nothing ran; the caller may retry."""

    slug = "run-not-started"
    title = "The run could not start in time"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "1"}


class RunTimeout(StackyardError):
    status = 504
    slug = "run-timeout"
    title = "The run took too long"


# -- the store -------------------------------------------------------------------------------------------------------


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
