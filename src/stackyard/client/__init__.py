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

from stackyard.client import exceptions
from stackyard.client.aio import AsyncClient
from stackyard.client.blocking import Client
from stackyard.client.calls import Call, UploadFile
from stackyard.client.exceptions import *  # noqa: F403  # every exception, listed in exceptions.__all__
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
    Replica,
    ReplicaRollout,
    Revision,
    RevisionDetail,
    RevisionPage,
    Rollout,
    RunResult,
    Status,
    StreamChunk,
    UploadResult,
    ValidationReport,
    WriteResult,
)
from stackyard.client.run_events import RunEvent

__all__ = [
    "ApplyItem",
    "ApplyResult",
    "AsyncClient",
    "AuditEntry",
    "Call",
    "Client",
    "Diff",
    "FileResult",
    "Health",
    "IgnoredStartUpFile",
    "Pipeline",
    "PipelineReadiness",
    "PipelineSchema",
    "PipelineStatus",
    "PipelineSummary",
    "Replica",
    "ReplicaRollout",
    "Revision",
    "RevisionDetail",
    "RevisionPage",
    "Rollout",
    "RunEvent",
    "RunResult",
    "Status",
    "StreamChunk",
    "UploadFile",
    "UploadResult",
    "ValidationReport",
    "WriteResult",
]
__all__ += exceptions.__all__  # every exception, by the list their module keeps
