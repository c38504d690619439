"""The `metadata` block of a definition's YAML: reading it as plain data, and setting the name, description and labels
in it while keeping the rest of the text as written.

`stackyard export` writes each pipeline's stored YAML with its name, description and labels in `metadata`, so that
`stackyard apply` reads the file back as the same pipeline. PyYAML keeps no comments, so the keys are set by editing
the text at the lines its parser marks: comments, order and quoting elsewhere stay as written. Each edit is read back
and compared with the original: everything outside `metadata` must load the same. An edit that does not pass (an
alias into the block, a document end marker, a flow-style document) gives way to writing the whole document anew,
which loses its comments but not its meaning.

Like `discovery.py`, it imports neither FastAPI nor Haystack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["MetadataNotWritten", "load", "with_metadata"]

WIDTH = 1 << 20  # never fold a long description over lines


class _Loader(yaml.SafeLoader):
    """Reads what Haystack's `Pipeline.dumps()` writes (tuples too), without importing Haystack into the CLI."""

    def construct_tuple(self, node: yaml.SequenceNode) -> tuple[Any, ...]:
        return tuple(self.construct_sequence(node))


_Loader.add_constructor("tag:yaml.org,2002:python/tuple", _Loader.construct_tuple)


class _Dumper(yaml.SafeDumper):
    """Writes tuples back the way Haystack does, so a rewritten document loads as the original did, and text of
    several lines as a literal block (PyYAML falls back to quotes where a block cannot hold it)."""

    def represent_tuple(self, data: tuple[Any, ...]) -> yaml.SequenceNode:
        return self.represent_sequence("tag:yaml.org,2002:python/tuple", data)

    def represent_text(self, data: str) -> yaml.ScalarNode:
        # Kept trailing lines (`|+`) would make PyYAML end the document after them (`...`).
        block = "\n" in data and not data.endswith("\n\n")
        return self.represent_scalar("tag:yaml.org,2002:str", data, style="|" if block else None)


_Dumper.add_representer(tuple, _Dumper.represent_tuple)
_Dumper.add_representer(str, _Dumper.represent_text)


class MetadataNotWritten(ValueError):
    """The text is not a YAML mapping, so it has no place for `metadata`."""


def load(text: str) -> Any:
    """The YAML document as plain data (tuples too); `yaml.YAMLError` when it does not parse."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader plus tuples


def _dump(data: Mapping[str, Any], indent: int) -> list[str]:
    text = yaml.dump(
        dict(data), Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=WIDTH
    )
    return [" " * indent + line if line.strip() else line for line in text.splitlines(keepends=True)]


def with_metadata(text: str, *, name: str, description: str, labels: Mapping[str, str]) -> str:
    """`text` with `metadata.name`, `metadata.description` and `metadata.labels` set, the rest kept as written.

    Only the keys whose value differs (as `stackyard apply` reads it) are written: an empty description or no labels
    needs no key. Raise `MetadataNotWritten` if the text is not a YAML mapping.

    Example:
        >>> print(with_metadata("components: {}  # none yet\\n", name="faq", description="", labels={"team": "docs"}))
        components: {}  # none yet
        metadata:
          name: faq
          labels:
            team: docs
        <BLANKLINE>
    """
    try:
        data = load(text)
    except yaml.YAMLError as error:
        raise MetadataNotWritten(f"the YAML does not parse: {error}") from None
    if not isinstance(data, dict):
        raise MetadataNotWritten("the YAML is not a mapping, so it has no place for 'metadata'")
    present = data.get("metadata")
    old: dict[Any, Any] = present if isinstance(present, dict) else {}
    changes = _changes(old, name, description, labels)
    if not changes:
        return text
    wanted = {**data, "metadata": {**old, **changes}}
    edited = _edit(text, old, changes)
    if edited is not None and _loads_as(edited, wanted):
        return edited
    rewritten = "".join(_dump(wanted, 0))
    if not _loads_as(rewritten, wanted):
        raise MetadataNotWritten("the YAML does not read back as written")  # a defect: say so rather than guess
    return rewritten


def _changes(old: Mapping[Any, Any], name: str, description: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The keys whose value, read as `stackyard apply` reads it, is not the one wanted (the name always written)."""
    changes: dict[str, Any] = {}
    if old.get("name") != name:
        changes["name"] = name
    if (old["description"] if isinstance(old.get("description"), str) else "") != description:
        changes["description"] = description
    current = old.get("labels")
    if ({str(key): str(value) for key, value in current.items()} if isinstance(current, dict) else {}) != labels:
        changes["labels"] = dict(labels)
    return changes


def _loads_as(text: str, wanted: dict[Any, Any]) -> bool:
    try:
        return bool(load(text) == wanted)
    except yaml.YAMLError:
        return False


def _edit(text: str, old: dict[Any, Any], changes: dict[str, Any]) -> str | None:
    """The text with the changed keys written in place, or None where the layout is not a plain block mapping."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode) or root.flow_style or not root.value:
        return None
    lines = re.findall(r"[^\n]*\n|[^\n]+$", text)  # split where PyYAML counts lines (`splitlines` splits on more)
    indent = root.value[0][0].start_mark.column
    entry = _entry(lines, root, "metadata")
    if entry is None:
        return None
    if not entry:
        ending = "" if text.endswith("\n") else "\n"
        return text + ending + "".join(_dump({"metadata": changes}, indent))
    key, value = entry
    if isinstance(value, yaml.MappingNode) and not value.flow_style and value.value:
        return _edit_block(lines, value, changes)
    target = {**old, **changes}
    if isinstance(value, yaml.MappingNode) and value.start_mark.line == value.end_mark.line:
        # `metadata: {mcp: true}  # comment` stays one line in flow style, with its comment
        flow = yaml.dump(
            target, Dumper=_Dumper, default_flow_style=True, allow_unicode=True, sort_keys=False, width=WIDTH
        ).removesuffix("\n")
        if "\n" not in flow:
            return text[: value.start_mark.index] + flow + text[value.end_mark.index :]
    # Anything else (no mapping, one over several lines) becomes a block.
    return _replace(lines, key.start_mark.line, _last_line(lines, value), _dump({"metadata": target}, indent))


def _entry(lines: list[str], mapping: yaml.MappingNode, name: str) -> tuple[yaml.Node, yaml.Node] | tuple[()] | None:
    """The key and value of `name` in a block mapping, () if it has none, None if the text cannot be edited there."""
    entries = [(key, value) for key, value in mapping.value if isinstance(key, yaml.ScalarNode) and key.value == name]
    if not entries:
        return ()
    key, value = entries[-1]
    column = key.start_mark.column
    if (
        len(entries) > 1
        or lines[key.start_mark.line][:column].strip()
        or column != mapping.value[0][0].start_mark.column
    ):
        return None  # a repeated key, or one that does not start its line
    # An alias composes to the very node its anchor marks, written before it: its marks are elsewhere in the text.
    return (key, value) if value.start_mark.index >= key.end_mark.index else None


def _edit_block(lines: list[str], block: yaml.MappingNode, changes: dict[str, Any]) -> str | None:
    """Set the changed keys inside a block-style `metadata` mapping: replace each entry, add the missing at its end."""
    indent = block.value[0][0].start_mark.column
    edits: list[tuple[int, int, list[str]]] = []  # first line, last line (inclusive), new lines
    missing: dict[str, Any] = {}
    for managed, value in changes.items():
        entry = _entry(lines, block, managed)
        if entry is None:
            return None
        if entry:
            key, node = entry
            edits.append((key.start_mark.line, _last_line(lines, node), _dump({managed: value}, indent)))
        else:
            missing[managed] = value
    if missing:
        end = _last_line(lines, block)
        if not lines[end].endswith("\n"):
            lines[end] += "\n"
        edits.append((end + 1, end, _dump(missing, indent)))
    for first, last, new in sorted(edits, key=lambda edit: edit[0], reverse=True):
        lines = _replace_lines(lines, first, last, new)
    return "".join(lines)


def _replace(lines: list[str], first: int, last: int, new: list[str]) -> str:
    return "".join(_replace_lines(lines, first, last, new))


def _replace_lines(lines: list[str], first: int, last: int, new: list[str]) -> list[str]:
    return [*lines[:first], *new, *lines[last + 1 :]]


def _last_line(lines: list[str], node: yaml.Node) -> int:
    """The last line (0-based) that holds some of `node`, blank lines after it left out."""
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _last_line(lines, last[1] if isinstance(last, tuple) else last)
    end = node.end_mark
    line = end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line
    line = min(line, len(lines) - 1)
    while line > node.start_mark.line and not lines[line].strip():
        line -= 1
    return int(line)
