"""What each named job does in a cell (`wire.jobs`), on the builds the cell holds: plain values in, JSON out.

Run in the cell's threads (`cell.life`), but for the runs of builds with async components, which are awaited on
its event loop (`run_async`). Each job's measurements go to the scope it names (`cell.tracer`).
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from stackyard.cell import docstores
from stackyard.cell.build import Build, build_pipeline
from stackyard.cell.held_builds import HeldBuilds, close_build
from stackyard.cell.inputs import InputPolicy
from stackyard.cell.legacy_query import run_query
from stackyard.cell.outputs import jsonable, plain_documents
from stackyard.cell.parsing import parse_definition
from stackyard.cell.policy import Policy
from stackyard.cell.runner import run_build, run_build_async
from stackyard.cell.simulation import describe, examine
from stackyard.cell.streams import CHUNKS, stream_build, stream_build_async
from stackyard.cell.uploads import Upload, index_upload_work
from stackyard.errors import InputRejected, InternalError
from stackyard.wire.cell_config import CellConfig
from stackyard.wire.jobs import Documents, Examine, Index, Query, Run

_json = msgspec.json.Encoder()


def resident_bytes() -> int:
    """The most resident memory this process has held (Linux counts `ru_maxrss` in KiB): what a build adds to it
    is what it loaded (a fresh cell, where a new pipeline is first built, starts from what it shares)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Work:
    """The jobs of one cell, on its builds."""

    def __init__(self, config: CellConfig) -> None:
        self.config = config
        self.policy = Policy.of(config.rules)
        self.inputs = InputPolicy(readable_dirs=tuple(Path(folder) for folder in config.input_dirs))
        self.builds = HeldBuilds()
        self.awaited: set[str] = set()  # keys of the builds whose runs are awaited on the loop (`runs_async`)

    # -- builds --------------------------------------------------------------------------------------------------

    def build(self, yaml_text: str, *, keep: bool) -> Build:
        """Parse, check against the policy and build `yaml_text`; with `keep`, warmed components of held builds
        are reused (never for a throwaway build, which must not share what serves)."""
        definition = parse_definition(yaml_text, max_bytes=self.config.max_yaml_bytes)
        self.policy.check(definition)  # before Haystack imports or instantiates anything
        return build_pipeline(
            definition,
            allowed_modules=list(self.config.extra_allowed_modules),
            pre_init=self.policy.build_hook,
            reuse=self.builds.reuse if keep else None,
        )

    def prepare(self, key: str, yaml_text: str) -> bytes:
        held = self.builds.get(key)
        if held is not None:
            return _json.encode(describe(key, held, grown_bytes=self.builds.weight(key)))
        before = resident_bytes()
        fresh = self.build(yaml_text, keep=True)
        # The peak resident size only grows: a build that took over a held model's state grows it by little, yet
        # holds that model as much as the build it came from (and is placed as such).
        weight = max(resident_bytes() - before, self.builds.inherited(fresh.definition))
        built = self.builds.add(key, fresh, weight)
        info = describe(key, built, grown_bytes=self.builds.weight(key))
        if info.runs_async:
            self.awaited.add(key)
        return _json.encode(info)

    def forget(self, keys: tuple[str, ...]) -> None:
        self.awaited.difference_update(keys)
        self.builds.forget(keys)

    def held(self, key: str | None) -> Build:
        built = self.builds.get(key) if key is not None else None
        if built is None:
            raise InternalError("A cell was sent work on a build it does not hold.")
        return built

    def runs_async(self, key: str | None) -> bool:
        return key in self.awaited

    # -- jobs ----------------------------------------------------------------------------------------------------

    def run(self, key: str | None, job: Run, chunks: Callable[[bytes], None] | None) -> bytes:
        built = self.held(key)
        self.check_sizes(built, job.data, job.max_input_chars)
        if job.stream:
            CHUNKS.set(chunks)
            return self.result(stream_build(built, job.data, job.include_outputs_from, self.inputs))
        return self.result(run_build(built, job.data, job.include_outputs_from, self.inputs))

    async def run_async(self, key: str | None, job: Run, chunks: Callable[[bytes], None] | None = None) -> bytes:
        built = self.held(key)
        self.check_sizes(built, job.data, job.max_input_chars)
        if job.stream:
            CHUNKS.set(chunks)  # in this task's own context
            return self.result(await stream_build_async(built, job.data, job.include_outputs_from, self.inputs))
        return self.result(await run_build_async(built, job.data, job.include_outputs_from, self.inputs))

    def query(self, key: str | None, job: Query) -> bytes:
        built = self.held(key)
        self.check_sizes(built, {"query": job.query, "params": job.params}, None)
        return self.result(run_query(built, job.query, job.params, job.debug, self.inputs))

    def index(self, key: str | None, job: Index) -> bytes:
        uploads = [Upload(each.file_name, each.content_type, each.data, dict(each.meta)) for each in job.uploads]
        target, results = index_upload_work(self.held(key), uploads, job.params, self.inputs)
        return self.result([target, results])

    def documents(self, key: str | None, job: Documents) -> bytes:
        name, store = docstores.pick_store(self.held(key), job.pipeline, job.component)
        if job.action == "count":
            return self.result([name, docstores.count(store, job.filters)])
        if job.action == "delete":
            return self.result([name, docstores.delete(store, job.filters)])
        total, page = docstores.search(store, job.filters, job.offset, job.limit)
        return self.result([name, [total, plain_documents(page, job.with_embedding)]])

    def examine(self, key: str, job: Examine) -> bytes:
        built = self.build(job.yaml, keep=False)
        try:
            info, simulation = examine(built, key, job.sample_input, allow_writes=job.allow_writes, policy=self.inputs)
        finally:
            close_build(built)
        return self.result([info, simulation])

    def export(self, key: str | None) -> bytes:
        return self.result(jsonable(self.held(key).pipeline.to_dict()))

    # -- limits --------------------------------------------------------------------------------------------------

    def result(self, value: Any) -> bytes:
        """`value` as JSON, within the largest answer a job may send (`STACKYARD_MAX_RESULT_BYTES`)."""
        encoded = _json.encode(value)
        limit = self.config.max_result_bytes
        if len(encoded) > limit:
            raise InputRejected(
                f"The result is {len(encoded)} bytes of JSON; this server answers at most {limit} "
                "(STACKYARD_MAX_RESULT_BYTES). Ask for less (fewer documents, a smaller top_k), or raise the limit.",
                rule="max-result-bytes",
            )
        return encoded

    def check_sizes(self, built: Build, data: Any, asked: int | None) -> None:
        """No string in the inputs longer than the definition's `max_input_chars` (else the server's)."""
        limit = built.definition.serving.max_input_chars or asked or self.config.max_input_chars
        if limit is None:
            return
        longest, where = _longest(data, "")
        if longest > limit:
            raise InputRejected(
                f"Input '{where or 'data'}' is {longest} characters long; this pipeline takes at most {limit} "
                "(metadata.serving.max_input_chars, else STACKYARD_MAX_INPUT_CHARS).",
                rule="max-input-chars",
                input=where,
            )


def _longest(value: Any, where: str) -> tuple[int, str]:
    """The longest string in `value` and where it is (iterative: inputs may nest deeply)."""
    best, best_where = 0, where
    pending: list[tuple[Any, str]] = [(value, where)]
    while pending:
        current, path = pending.pop()
        if isinstance(current, str):
            if len(current) > best:
                best, best_where = len(current), path
        elif isinstance(current, dict):
            pending.extend((item, f"{path}.{key}" if path else str(key)) for key, item in current.items())
        elif isinstance(current, list):
            pending.extend((item, f"{path}[{index}]") for index, item in enumerate(current))
    return best, best_where
