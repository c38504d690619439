"""Uploaded files into an indexing pipeline: which input takes them, which types it converts, one run per file.

Files reach the pipeline as `ByteStream`s (bytes, MIME type, and `file_name` / `content_type` in their meta), never
as paths on the server, so the local-path policy has nothing to refuse. Each file is run on its own so the answer
can say how many documents each one gave, and one file's failure names that file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, get_args

from haystack.components.routers import FileTypeRouter
from haystack.dataclasses import ByteStream

from stackyard.cell.build import Build
from stackyard.cell.inputs import InputPolicy, mixed_inputs
from stackyard.cell.runner import run_build
from stackyard.errors import NoFileInput, StackyardError, UnsupportedMediaType

# What Haystack's converters read, by class name; a converter not listed here is given any type.
CONVERTER_TYPES: dict[str, tuple[str, ...]] = {
    "TextFileToDocument": (r"text/.*",),
    "MarkdownToDocument": ("text/markdown", "text/x-markdown"),
    "PyPDFToDocument": ("application/pdf",),
    "PDFMinerToDocument": ("application/pdf",),
    "HTMLToDocument": ("text/html",),
    "CSVToDocument": ("text/csv",),
    "JSONConverter": ("application/json",),
    "DOCXToDocument": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
    "PPTXToDocument": ("application/vnd.openxmlformats-officedocument.presentationml.presentation",),
    "XLSXToDocument": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",),
}


@dataclass(frozen=True)
class Upload:
    """One uploaded file, read into memory (the request size limit bounds it)."""

    file_name: str
    content_type: str
    data: bytes
    meta: dict[str, Any] = field(default_factory=dict)

    def stream(self) -> ByteStream:
        meta = {**self.meta, "file_name": self.file_name, "content_type": self.content_type}
        return ByteStream(data=self.data, mime_type=self.content_type, meta=meta)


@dataclass(frozen=True)
class FilesInput:
    """Where a pipeline takes files: a friendly input name or an open socket, and the sockets behind it."""

    name: str  # what the answer reports, and the key the files are routed by
    sockets: tuple[tuple[str, str], ...]  # (component, socket)


@dataclass(frozen=True)
class FileResult:
    file_name: str
    content_type: str
    bytes: int
    documents_written: int | None


def files_input(build: Build) -> FilesInput:
    """The input that takes files: a friendly input mapped to a socket that accepts ByteStream, else such a socket.

    Prefers the names `files` and `sources`; raises `NoFileInput` when the pipeline takes no files at all.
    """
    candidates: list[FilesInput] = []
    for friendly, refs in build.definition.inputs.items():
        sockets = tuple((ref.component, ref.socket) for ref in refs if _takes_streams(build, ref.component, ref.socket))
        if sockets:
            candidates.append(FilesInput(friendly, sockets))
    if not candidates:
        for component, open_sockets in build.sockets.inputs.items():
            for socket, spec in open_sockets.items():
                if _accepts_byte_stream(spec["type"]):
                    candidates.append(FilesInput(socket, ((component, socket),)))
    if not candidates:
        raise NoFileInput(
            "This pipeline has no input that accepts files (a socket typed with ByteStream, such as a converter's "
            "'sources'). Upload to an indexing pipeline, or map an input to a converter or FileTypeRouter.",
        )
    candidates.sort(key=lambda item: (item.name not in ("files", "sources"), item.name))
    return candidates[0]


def _takes_streams(build: Build, component: str, socket: str) -> bool:
    spec = build.sockets.inputs.get(component, {}).get(socket)
    return spec is not None and _accepts_byte_stream(spec["type"])


def _accepts_byte_stream(expected: Any) -> bool:
    if isinstance(expected, type) and issubclass(expected, ByteStream):
        return True
    return any(_accepts_byte_stream(arg) for arg in get_args(expected))


def accepted_types(build: Build, target: FilesInput) -> list[str] | None:
    """The MIME types (exact or regex) the components behind `target` convert; None: any type."""
    accepted: list[str] = []
    for component, _socket in target.sockets:
        instance = build.pipeline.get_component(component)
        if isinstance(instance, FileTypeRouter):
            accepted.extend(instance.mime_types)
            continue
        known = CONVERTER_TYPES.get(type(instance).__name__)
        if known is None:
            return None
        accepted.extend(known)
    return accepted


def check_types(uploads: list[Upload], accepted: list[str] | None) -> None:
    """Refuse (415) the first upload whose type nothing in the pipeline converts."""
    if accepted is None:
        return
    for upload in uploads:
        if not any(upload.content_type == pattern or _fullmatch(pattern, upload.content_type) for pattern in accepted):
            raise UnsupportedMediaType(
                f"File '{upload.file_name}' has type {upload.content_type}, which this pipeline does not convert. "
                f"It converts: {', '.join(accepted)}.",
                file_name=upload.file_name,
                content_type=upload.content_type,
                accepted=accepted,
            )


def _fullmatch(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return False


def writer_components(build: Build) -> list[str]:
    """Components that report `documents_written` (DocumentWriter and its kin)."""
    return sorted(name for name, sockets in build.sockets.outputs.items() if "documents_written" in sockets)


def index_files(
    build: Build, target: FilesInput, uploads: list[Upload], params: dict[str, Any], policy: InputPolicy | None = None
) -> list[FileResult]:
    """Run the pipeline once per file, with `params` as further inputs. Blocking: call it in a job thread."""
    writers = writer_components(build)
    results = []
    for upload in uploads:
        data = mixed_inputs(build, {**params, target.name: [upload.stream()]})
        try:
            result = run_build(build, data, writers, policy)
        except StackyardError as error:
            error.extensions.setdefault("file_name", upload.file_name)
            raise
        written = [result.get(writer, {}).get("documents_written") for writer in writers]
        counts = [count for count in written if isinstance(count, int)]
        results.append(
            FileResult(upload.file_name, upload.content_type, len(upload.data), sum(counts) if counts else None)
        )
    return results


def index_upload_work(
    build: Build, uploads: list[Upload], params: dict[str, Any], policy: InputPolicy | None = None
) -> tuple[str, list[FileResult]]:
    """The work of an upload, done in a cell: the input that takes the files, checked against their types, then
    one run per file (`index_files`)."""
    target = files_input(build)
    check_types(uploads, accepted_types(build, target))
    return target.name, index_files(build, target, uploads, params, policy)
