"""The Python client of the Stackyard API: `Client` (sync) and `AsyncClient`, typed results, one exception per problem.

Importing this package imports neither FastAPI nor Haystack, so any application can use it cheaply.

Example:
    >>> from stackyard.client import Client, PipelineNotFound
    >>> yard = Client("http://127.0.0.1:8000")
    >>> try:
    ...     yard.get_pipeline("ghost")
    ... except PipelineNotFound as error:
    ...     print(error.detail)
"""

from stackyard.client.aio import AsyncClient
from stackyard.client.calls import Call, UploadFile
from stackyard.client.errors import (
    ApiError,
    ClientError,
    DefinitionTooLarge,
    Forbidden,
    InvalidPipelineName,
    InvalidRequest,
    InvalidRunInput,
    PipelineDisabled,
    PipelineNotFound,
    PipelineUnavailable,
    RevisionConflict,
    RevisionNotFound,
    RouteNotFound,
    RunFailed,
    ServerError,
    ServerUnreachable,
    StoreUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from stackyard.client.models import (
    ApplyItem,
    ApplyResult,
    AuditEntry,
    Diff,
    FileResult,
    Health,
    IgnoredStartUpFile,
    Pipeline,
    PipelineReadiness,
    PipelineSchema,
    PipelineStatus,
    PipelineSummary,
    Revision,
    RevisionDetail,
    RevisionPage,
    RunResult,
    Status,
    UploadResult,
    ValidationReport,
    WriteResult,
)
from stackyard.client.sync import Client

__all__ = [
    "ApiError",
    "ApplyItem",
    "ApplyResult",
    "AsyncClient",
    "AuditEntry",
    "Call",
    "Client",
    "ClientError",
    "DefinitionTooLarge",
    "Diff",
    "FileResult",
    "Forbidden",
    "Health",
    "IgnoredStartUpFile",
    "InvalidPipelineName",
    "InvalidRequest",
    "InvalidRunInput",
    "Pipeline",
    "PipelineDisabled",
    "PipelineNotFound",
    "PipelineReadiness",
    "PipelineSchema",
    "PipelineStatus",
    "PipelineSummary",
    "PipelineUnavailable",
    "Revision",
    "RevisionConflict",
    "RevisionDetail",
    "RevisionNotFound",
    "RevisionPage",
    "RouteNotFound",
    "RunFailed",
    "RunResult",
    "ServerError",
    "ServerUnreachable",
    "Status",
    "StoreUnavailable",
    "Unauthorized",
    "UnsupportedMediaType",
    "UploadFile",
    "UploadResult",
    "ValidationFailed",
    "ValidationReport",
    "WriteResult",
]
