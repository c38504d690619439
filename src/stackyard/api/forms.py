"""Multipart uploads: reading the form within its limits, its files and JSON fields, and running a pipeline once per
file (the files route and the Haystack 1.x `/file-upload` share it)."""

from __future__ import annotations

import functools
import json
from typing import Any

from fastapi import Request
from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile

from stackyard.api.dependencies import AppState
from stackyard.errors import FileTooLarge, InvalidRequest, InvalidRunInput, UnsupportedMediaType
from stackyard.serving.sharing import warnings_for
from stackyard.serving.uploads import Upload, content_type, index_upload_work, meta_per_file


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


async def uploads_from(form: FormData, state: AppState, meta: Any) -> list[Upload]:
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
        uploads.append(Upload(name, content_type(name, part.content_type), await part.read(), file_meta))
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


async def index_uploads(state: AppState, name: str, uploads: list[Upload], params: dict[str, Any]) -> UploadAnswer:
    """Run `name` once per upload (as one run, within the run limits) and say what each file gave."""

    work = functools.partial(index_upload_work, uploads=uploads, params=params, policy=state.inputs)
    live, (target_name, results) = await state.leases.run(name, work)
    counts = [result.documents_written for result in results if result.documents_written is not None]
    return UploadAnswer(
        pipeline=name,
        revision=live.revision,
        input=target_name,
        files=[FileAnswer(**vars(result)) for result in results],
        documents_written=sum(counts) if counts else None,
        warnings=await warnings_for(state.settings, state.store, [live.info]),
    )
