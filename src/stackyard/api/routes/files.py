"""`POST /pipelines/{name}/files`: multipart files into an indexing pipeline, one run per file."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stackyard.api.answers import RUN_PROBLEMS
from stackyard.api.bodies import problems
from stackyard.api.dependencies import Name, State
from stackyard.api.forms import (
    UPLOAD_BODY,
    UploadAnswer,
    index_uploads,
    json_field,
    params_field,
    read_form,
    uploads_from,
)

router = APIRouter(prefix="/pipelines", tags=["documents"])


@router.post(
    "/{name}/files",
    summary="Upload files into an indexing pipeline",
    description="Each `files` part reaches the pipeline as a ByteStream (file name and content type in its meta). "
    "`meta` (JSON) is one object for all files or a list with one per file; `params` (JSON) adds run inputs. "
    "The pipeline runs once per file; the answer says how many documents each file gave.",
    response_model=UploadAnswer,
    responses={
        **RUN_PROBLEMS,
        **problems(
            {413: "A file or the request is too large", 415: "Not multipart, or a type the pipeline does not convert"}
        ),
    },
    openapi_extra=UPLOAD_BODY,
)
async def upload_files(name: Name, request: Request, state: State) -> UploadAnswer:
    form = await read_form(request, state)
    try:
        params = params_field(form, "params")
        uploads = await uploads_from(form, state, json_field(form, "meta"))
    finally:
        # Starlette spools large parts to temporary files; closing the form closes and removes them.
        await form.close()
    return await index_uploads(state, name, uploads, params)
