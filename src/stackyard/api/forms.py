"""Multipart uploads: reading the form within its limits, its files and JSON fields, and running a pipeline once per
file (the files route and the Haystack 1.x `/file-upload` share it)."""

from __future__ import annotations

import json
import mimetypes
from pathlib import PurePath
from typing import Any

from fastapi import Request
from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile

from stackyard.api.dependencies import AppState
from stackyard.errors import FileTooLarge, InvalidRequest, InvalidRunInput, UnsupportedMediaType
from stackyard.serving.sharing import warnings_for
from stackyard.wire.jobs import Index, UploadedFile


class FileAnswer(BaseModel):
    file_name: str
    content_type: str
    bytes: int
    documents_written: int | None = Field(description="Reported by the pipeline's writers; null without a writer.")


class UploadAnswer(BaseModel):
    pipeline: str
    revision: int
    input: str = Field(description="The pipeline input the files were sent to (friendly name or socket).")
    files: list[FileAnswer]
    documents_written: int | None
    warnings: list[str]


def upload_body(**fields: str) -> dict[str, Any]:
    """The OpenAPI request body of a multipart upload: one or more `files` parts, plus the text `fields` described."""
    properties: dict[str, Any] = {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1},
        **{name: {"type": "string", "description": description} for name, description in fields.items()},
    }
    schema = {"type": "object", "required": ["files"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


UPLOAD_BODY = upload_body(
    meta="JSON: one object for all files, or one per file", params="JSON object: further run inputs"
)


async def read_form(request: Request, state: AppState) -> FormData:
    """The multipart form, within the file count limit. Close it (`await form.close()`) to drop spooled files."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UnsupportedMediaType("Send multipart/form-data with one or more 'files' parts.")
    return await request.form(max_files=state.settings.max_files)


async def uploads_from(form: FormData, state: AppState, meta: Any) -> list[UploadedFile]:
    """The `files` parts as uploads with their meta; refuses a file over the per-file limit."""
    parts = [part for part in form.getlist("files") if isinstance(part, UploadFile)]
    if not parts:
        raise InvalidRequest("The form has no 'files' part; send each file as a 'files' part.")
    limit = state.settings.max_file_bytes
    metas = meta_per_file(meta, len(parts))
    uploads = []
    for part, file_meta in zip(parts, metas, strict=True):
        name = part.filename or "upload"
        if part.size is not None and part.size > limit:
            raise FileTooLarge(
                f"File '{name}' has {part.size} bytes; this server takes at most {limit} per file "
                "(STACKYARD_MAX_FILE_BYTES).",
                file_name=name,
            )
        uploads.append(UploadedFile(name, content_type(name, part.content_type), await part.read(), file_meta))
    return uploads


def json_field(form: FormData, key: str) -> Any:
    """A form field holding JSON, or None when absent or empty."""
    raw = form.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise InvalidRunInput(f"'{key}' must be a JSON text field, not a file.")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidRunInput(f"'{key}' is not valid JSON: {error.msg} (position {error.pos}).") from None


def params_field(form: FormData, key: str) -> dict[str, Any]:
    """A form field holding a JSON object of run inputs; empty when absent."""
    params = json_field(form, key)
    if not isinstance(params, dict | None):
        raise InvalidRunInput(f"'{key}' must be a JSON object of run inputs.")
    return params or {}


async def index_uploads(
    state: AppState, name: str, uploads: list[UploadedFile], params: dict[str, Any]
) -> UploadAnswer:
    """Run `name` once per upload (as one run, within the run limits) and say what each file gave."""

    live, answer = await state.leases.run(name, Index(uploads, params))
    target_name, results = json.loads(answer)
    counts = [result["documents_written"] for result in results if result["documents_written"] is not None]
    return UploadAnswer(
        pipeline=name,
        revision=live.revision,
        input=target_name,
        files=[FileAnswer(**result) for result in results],
        documents_written=sum(counts) if counts else None,
        warnings=await warnings_for(state.settings, state.store, [live.info]),
    )


# Browsers and curl often send these as application/octet-stream; the extension says more.
EXTRA_TYPES = {".md": "text/markdown", ".markdown": "text/markdown", ".txt": "text/plain", ".pdf": "application/pdf"}
GENERIC_TYPES = ("", "application/octet-stream")


def content_type(file_name: str, sent: str | None) -> str:
    """The type the client sent, unless it is missing or generic; then the one the file name suggests."""
    sent = (sent or "").split(";", 1)[0].strip().lower()
    if sent not in GENERIC_TYPES:
        return sent
    suffix = PurePath(file_name).suffix.lower()
    return EXTRA_TYPES.get(suffix) or mimetypes.guess_type(file_name)[0] or "application/octet-stream"


def meta_per_file(meta: Any, count: int) -> list[dict[str, Any]]:
    """`meta` as sent (nothing, one object for every file, or a list with one object per file), one per file."""
    if meta is None:
        return [{} for _ in range(count)]
    if isinstance(meta, dict):
        return [dict(meta) for _ in range(count)]
    if isinstance(meta, list) and all(isinstance(item, dict) for item in meta):
        if len(meta) != count:
            raise InvalidRunInput(f"'meta' has {len(meta)} entries for {count} files; send one per file or one object.")
        return [dict(item) for item in meta]
    raise InvalidRunInput("'meta' must be a JSON object (for every file) or a list of objects (one per file).")
