"""Loading pipeline files given at start-up into the store. The files themselves are only ever read."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import anyio

from stackyard.changes.manager import Manager
from stackyard.definitions.discovery import DefinitionFile, DiscoveryError, discover
from stackyard.errors import StackyardError
from stackyard.startup import StartupError
from stackyard.store import Change, PipelineRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IgnoredFile:
    """A start-up file whose pipeline was already stored with other content, which kept serving ('create' mode)."""

    definition: DefinitionFile
    revision: int  # the stored revision that served instead, at start-up

    def differs_from(self, record: PipelineRecord | None) -> bool:
        """True while the stored pipeline still differs from the file (an apply of the file ends it)."""
        return record is not None and not change_of(self.definition).same_content(record)

    def advice(self) -> str:
        path, name = self.definition.path, self.definition.name
        return (
            f"{path} differs from the stored pipeline '{name}', whose revision {self.revision} kept serving. "
            f"Apply the file with `stackyard apply -f {path}`, or restart with STACKYARD_SEED_MODE=replace."
        )


def change_of(definition: DefinitionFile) -> Change:
    """The change a start-up file asks for: the name, YAML, description and labels `stackyard apply` would send."""
    return Change(
        name=definition.name,
        yaml=definition.yaml,
        description=definition.description,
        labels=definition.labels,
        author="start-up",
        message=f"start-up file {definition.path.name}",
    )


async def seed(manager: Manager, paths: list[Path], mode: str) -> list[IgnoredFile]:
    """Put each file's definition into the store: only when absent ('create') or whenever it differs ('replace').

    Returns the files 'create' left aside because their pipeline was stored with other content. Raises
    `StartupError` naming the file when one cannot be read or deployed: the server must not serve a partial set.
    """
    try:
        definitions = await anyio.to_thread.run_sync(discover, paths)
    except DiscoveryError as error:
        raise StartupError(str(error)) from None
    ignored = []
    for definition in definitions:
        change = change_of(definition)
        stored = await anyio.to_thread.run_sync(manager.store.get, definition.name)
        if stored is not None and mode == "create":
            if not change.same_content(stored):
                ignored.append(IgnoredFile(definition, stored.revision))
                log.warning(ignored[-1].advice(), extra={"pipeline": definition.name, "revision": stored.revision})
            continue
        try:
            await manager.put(change)
        except StackyardError as error:
            raise StartupError(f"{definition.path}: {error.title}: {error.detail}") from None
    return ignored
