"""Pipeline definitions in files and folders: which files count, and the name, description and labels of each.

Start-up files (`stackyard serve PATH`) and `stackyard apply -f PATH` both read folders through this module, so
applying the folder a server was started from changes nothing. It imports neither FastAPI nor Haystack: the client
commands use it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from stackyard.definitions.metadata import load
from stackyard.definitions.names import check_name
from stackyard.errors import InvalidPipelineName
from stackyard.json_types import MAX_LABELS, Labels

__all__ = [
    "SUFFIXES",
    "DefinitionFile",
    "DiscoveryError",
    "definition_in",
    "discover",
    "read_definition",
    "yaml_files",
]

SUFFIXES = (".yml", ".yaml")
LABELS: TypeAdapter[dict[str, str]] = TypeAdapter(Labels)


class DiscoveryError(ValueError):
    """A path names no file, a file cannot be read, its name is not a pipeline name, or two files name one pipeline."""


@dataclass(frozen=True)
class DefinitionFile:
    """One file's pipeline: its name, the YAML exactly as written, and the description and labels it declares."""

    path: Path
    name: str
    yaml: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def yaml_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Each file as given, and each `*.yml` / `*.yaml` directly inside each folder (not recursive), in name order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(child for child in path.iterdir() if child.is_file() and child.suffix in SUFFIXES)
        elif path.is_file():
            yield path
        else:
            raise DiscoveryError(f"{path}: no such file or folder")


def read_definition(path: Path) -> DefinitionFile:
    """The pipeline one file defines: name = `metadata.name`, else the file stem; `metadata.description` and
    `metadata.labels` (strings) become the pipeline's description and labels.

    The YAML is kept exactly as written. Text that does not parse is kept too, so the server reports the problem with
    its line and column, like every other refusal.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DiscoveryError(f"{path}: cannot read it: {error}") from None
    return definition_in(path, text)


def definition_in(path: Path, text: str) -> DefinitionFile:
    """The pipeline `text` defines when it is the file at `path`, as `read_definition` reads it."""
    try:
        document = load(text)
    except yaml.YAMLError:
        document = None
    metadata = document.get("metadata") if isinstance(document, dict) else None
    metadata = metadata if isinstance(metadata, dict) else {}
    name = metadata.get("name")
    description = metadata.get("description")
    labels = metadata.get("labels")
    return DefinitionFile(
        path=path,
        name=name if isinstance(name, str) and name else path.stem,
        yaml=text,
        description=description if isinstance(description, str) else "",
        labels=_labels(path, labels),
    )


def _labels(path: Path, labels: object) -> dict[str, str]:
    """`metadata.labels` as strings, within the same bounds as labels sent to the API."""
    if not isinstance(labels, dict):
        return {}
    try:
        return LABELS.validate_python({str(key): str(value) for key, value in labels.items()})
    except ValidationError as error:
        raise DiscoveryError(
            f"{path}: metadata.labels: {error.errors()[0]['msg']} ({MAX_LABELS} labels at most, keys "
            "of 1 to 63 characters, values of at most 256)."
        ) from None


def discover(paths: Iterable[Path]) -> list[DefinitionFile]:
    """Every definition in `paths` (files, or folders of `*.yml` / `*.yaml`): valid names, each named by one file."""
    found: dict[str, DefinitionFile] = {}
    for path in yaml_files(paths):
        definition = read_definition(path)
        try:
            check_name(definition.name)
        except InvalidPipelineName as error:
            raise DiscoveryError(f"{path}: {error.detail} Rename the file or set metadata.name.") from None
        if definition.name in found:
            raise DiscoveryError(
                f"{found[definition.name].path} and {path} both define pipeline '{definition.name}'; "
                "rename one file or set a different metadata.name."
            )
        found[definition.name] = definition
    return list(found.values())
