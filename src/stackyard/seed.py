"""Loading pipeline files given at start-up into the store. The files themselves are only ever read."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio

from stackyard.errors import StackyardError
from stackyard.management import Manager
from stackyard.names import check_name
from stackyard.store import Change

log = logging.getLogger(__name__)
YAML_SUFFIXES = (".yml", ".yaml")


class SeedError(RuntimeError):
    """A start-up file cannot be loaded; the server refuses to start rather than serve a partial set."""


def pipeline_files(paths: list[Path]) -> dict[str, Path]:
    """Name -> file for every YAML file named, or inside a folder named (not recursive); name = file stem."""
    found: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise SeedError(f"{path}: no such file or folder")
        for file in files:
            try:
                name = check_name(file.stem)
            except StackyardError as error:
                raise SeedError(f"{file}: {error.detail}") from None
            if name in found:
                raise SeedError(f"{file} and {found[name]} would both be pipeline '{name}'")
            found[name] = file
    return found


async def seed(manager: Manager, paths: list[Path], mode: str) -> None:
    """Put each file's definition into the store: only when absent ('create') or whenever it differs ('replace')."""
    for name, file in pipeline_files(paths).items():
        text = file.read_text(encoding="utf-8")
        stored = await anyio.to_thread.run_sync(manager.store.get, name)
        if stored is not None and mode == "create":
            if stored.yaml != text:
                log.warning(
                    "stored pipeline differs from its start-up file; keeping the stored revision "
                    "(set STACKYARD_SEED_MODE=replace to make files win)",
                    extra={"pipeline": name, "revision": stored.revision, "file": str(file)},
                )
            continue
        try:
            await manager.put(Change(name=name, yaml=text, description=f"from {file.name}", author="start-up"))
        except StackyardError as error:
            raise SeedError(f"{file}: {error.title}: {error.detail}") from None
