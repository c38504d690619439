"""Pipeline definitions read from files and folders, named as `stackyard apply` names them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackyard.client import ApplyItem

SUFFIXES = (".yml", ".yaml")


class _MetadataLoader(yaml.SafeLoader):
    """Reads what Haystack's `Pipeline.dumps()` writes (tuples too), without importing Haystack into the CLI."""

    def construct_tuple(self, node: yaml.SequenceNode) -> tuple[Any, ...]:
        return tuple(self.construct_sequence(node))


_MetadataLoader.add_constructor("tag:yaml.org,2002:python/tuple", _MetadataLoader.construct_tuple)


class DefinitionFileError(Exception):
    """A file cannot be part of an apply (unreadable, or its name clashes with another file's)."""


@dataclass(frozen=True)
class DefinitionFile:
    path: Path
    item: ApplyItem


def yaml_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Each file as given, and each `*.yml` / `*.yaml` directly inside each folder, in name order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(child for child in path.iterdir() if child.is_file() and child.suffix in SUFFIXES)
        else:
            yield path


def read_definition(path: Path) -> DefinitionFile:
    """The apply item of one file: name = `metadata.name` or the file stem; `metadata.description` and
    `metadata.labels` (strings) become the pipeline's description and labels.

    The YAML is sent exactly as written. Text that does not parse is sent too, so the server reports the problem with
    its line and column, like every other refusal.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DefinitionFileError(f"{path}: cannot read it: {error}") from None
    try:
        document = yaml.load(text, Loader=_MetadataLoader)  # noqa: S506 - a safe loader plus tuples
    except yaml.YAMLError:
        document = None
    metadata = document.get("metadata") if isinstance(document, dict) else None
    metadata = metadata if isinstance(metadata, dict) else {}
    name = metadata.get("name")
    description = metadata.get("description")
    labels = metadata.get("labels")
    item = ApplyItem(
        name=name if isinstance(name, str) and name else path.stem,
        yaml=text,
        description=description if isinstance(description, str) else "",
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        message=f"apply {path.name}",
    )
    return DefinitionFile(path, item)


def check_unique(files: list[DefinitionFile]) -> None:
    seen: dict[str, Path] = {}
    for file in files:
        if file.item.name in seen:
            raise DefinitionFileError(
                f"{seen[file.item.name]} and {file.path} both define pipeline '{file.item.name}'; "
                "rename one file or set a different metadata.name."
            )
        seen[file.item.name] = file.path
