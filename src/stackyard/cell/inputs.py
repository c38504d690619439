"""Run inputs from JSON to what a socket expects, and the checks that turn a bad input into a 422.

JSON brings dicts and lists; components expect `Document`, `ChatMessage`, `ByteStream` or typed values. Each
socket's type decides the conversion. Types pydantic cannot describe are passed through untouched.
"""

from __future__ import annotations

import base64
import binascii
import types
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any, Union, get_args, get_origin

from haystack.dataclasses import ByteStream, ChatMessage, Document
from pydantic import TypeAdapter, ValidationError

from stackyard.cell.build import Build
from stackyard.cell.templates import TEMPLATE_SOCKET, check_template_value
from stackyard.errors import InvalidRunInput, PolicyViolation, trim

ComponentInputs = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class InputPolicy:
    """What run inputs may name on this server: files only under `readable_dirs` (`STACKYARD_READABLE_DIRS`)."""

    readable_dirs: tuple[Path, ...] = ()

    def check_path(self, value: str, where: str) -> None:
        """A string sent where a file is expected is a path on this server: only inside `readable_dirs`."""
        try:
            resolved = Path(value).resolve()
        except (OSError, ValueError):
            resolved = None
        if resolved is not None and any(resolved.is_relative_to(root.resolve()) for root in self.readable_dirs):
            return
        raise PolicyViolation(
            f"Refused by rule 'local-paths': input '{where}' names a local path; send the file's content instead "
            '(a ByteStream: {"data": base64, "mime_type": ...}, or upload it). Directories can be opened with '
            "STACKYARD_READABLE_DIRS.",
            rule="local-paths",
        )


def prepare_inputs(build: Build, data: dict[str, Any], policy: InputPolicy | None = None) -> ComponentInputs:
    """Route `data` (flat, friendly or per component) to sockets, convert values, and check nothing is missing.

    Where a socket accepts a `Path` (converters' `sources`, routers), a string is a path on this server: the
    policy refuses it unless it lies in a readable directory, so run inputs cannot read the server's files.
    """
    policy = policy or InputPolicy()
    open_sockets = build.sockets.inputs
    nested = bool(data) and all(key in open_sockets and isinstance(value, dict) for key, value in data.items())
    routed = _route_nested(data, open_sockets) if nested else _route_flat(build, data)
    _check_mandatory(build, routed)
    prepared: ComponentInputs = {}
    for component, values in routed.items():
        prepared[component] = {}
        for socket, value in values.items():
            expected = open_sockets[component][socket]["type"]
            where = f"{component}.{socket}"
            if socket == TEMPLATE_SOCKET:
                _check_run_time_template(build, component, value, where)
            for path in _path_strings(value, expected):
                policy.check_path(path, where)
            prepared[component][socket] = convert(value, expected, where)
    return prepared


def _check_run_time_template(build: Build, component: str, value: Any, where: str) -> None:
    """A run may set a component's template only where the definition lists it under `run_time_templates`, and
    then only a template that passes the same checks as the definition's own."""
    if component not in build.definition.run_time_templates:
        raise PolicyViolation(
            f"Refused by rule 'run-time-template': input '{where}' would replace the template the definition set. "
            f"A definition that means to allow it lists the component: run_time_templates: [{component}].",
            rule="run-time-template",
            component=component,
        )
    check_template_value(value, where, component)


def _path_strings(value: Any, expected: Any) -> list[str]:
    """The strings in `value` that land where `expected` accepts a filesystem path."""
    if not _accepts_path(expected):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _accepts_path(expected: Any) -> bool:
    if isinstance(expected, type) and issubclass(expected, PurePath):
        return True
    return any(_accepts_path(arg) for arg in get_args(expected))


def _route_nested(data: dict[str, Any], open_sockets: dict[str, dict[str, Any]]) -> ComponentInputs:
    for component, values in data.items():
        unknown = sorted(set(values) - set(open_sockets[component]))
        if unknown:
            raise InvalidRunInput(
                f"Component '{component}' takes no input named {', '.join(map(repr, unknown))}; it takes: "
                f"{', '.join(sorted(open_sockets[component])) or 'nothing'}.",
                component=component,
            )
    return {component: dict(values) for component, values in data.items()}


def _route_flat(build: Build, data: dict[str, Any]) -> ComponentInputs:
    routed: ComponentInputs = {}
    friendly = build.definition.inputs
    for key, value in data.items():
        if key in friendly:
            for ref in friendly[key]:
                routed.setdefault(ref.component, {})[ref.socket] = value
            continue
        targets = [component for component, sockets in build.sockets.inputs.items() if key in sockets]
        if not targets:
            raise InvalidRunInput(
                f"The pipeline takes no input named '{trim(key, 80)}'. It takes: {', '.join(accepted_names(build))}.",
                input=trim(key, 80),
            )
        for component in targets:
            routed.setdefault(component, {})[key] = value
    return routed


def mixed_inputs(build: Build, data: dict[str, Any]) -> ComponentInputs:
    """`data` with per-component entries (`{"retriever": {"top_k": 3}}`) and flat ones side by side, all per component.

    For callers that add a flat input (uploaded files, a 1.x query) to parameters given per component.
    """
    open_sockets = build.sockets.inputs
    nested = {key: value for key, value in data.items() if key in open_sockets and isinstance(value, dict)}
    flat = {key: value for key, value in data.items() if key not in nested}
    routed = _route_nested(nested, open_sockets)
    for component, values in _route_flat(build, flat).items():
        routed.setdefault(component, {}).update(values)
    return routed


def accepted_names(build: Build) -> list[str]:
    """The flat input names a caller may use: friendly names first, then open socket names."""
    names = list(build.definition.inputs)
    for sockets in build.sockets.inputs.values():
        names.extend(socket for socket in sockets if socket not in names)
    return names


def _check_mandatory(build: Build, routed: ComponentInputs) -> None:
    mapped = {(ref.component, ref.socket): name for name, refs in build.definition.inputs.items() for ref in refs}
    for component, sockets in build.sockets.inputs.items():
        for socket, spec in sockets.items():
            if spec.get("is_mandatory") and socket not in routed.get(component, {}):
                shown = mapped.get((component, socket), socket)
                raise InvalidRunInput(
                    f"Missing mandatory input '{shown}' (socket '{component}.{socket}').",
                    input=shown,
                    component=component,
                )


def convert(value: Any, expected: Any, where: str) -> Any:
    """Convert a JSON value to the socket type `expected`; raise `InvalidRunInput` when it cannot be."""
    try:
        return _convert(value, expected)
    except (ValidationError, TypeError, ValueError, KeyError, binascii.Error) as error:
        reason = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
        raise InvalidRunInput(
            f"Input '{where}' expects {_type_name(expected)}: {trim(reason, 200)}.", socket=where
        ) from None


def _convert(value: Any, expected: Any) -> Any:
    if expected is Any or value is None:
        return value
    if isinstance(value, ByteStream | Document | ChatMessage) and isinstance(expected, type):
        # Made on the server (uploaded files): already what the socket takes, or not convertible at all.
        if isinstance(value, expected):
            return value
        raise TypeError(f"{type(value).__name__} is not {_type_name(expected)}")
    origin = get_origin(expected)
    if origin in (Union, types.UnionType):
        options = [arg for arg in get_args(expected) if arg is not type(None)]
        errors: list[Exception] = []
        for option in options:  # the first member of the union that the value fits
            try:
                return _convert(value, option)
            except (ValidationError, TypeError, ValueError, KeyError, binascii.Error) as error:
                errors.append(error)
        raise errors[0]
    if origin in (list, Sequence) and isinstance(value, list):
        (item_type,) = get_args(expected) or (Any,)
        return [_convert(item, item_type) for item in value]
    if isinstance(expected, type) and isinstance(value, dict):
        if issubclass(expected, Document):
            return Document.from_dict(value)
        if issubclass(expected, ChatMessage):
            return ChatMessage.from_dict(value) if "content" in value else ChatMessage.from_user(str(value["text"]))
        if issubclass(expected, ByteStream):
            return _byte_stream(value)
    if isinstance(expected, type) and issubclass(expected, ChatMessage) and isinstance(value, str):
        return ChatMessage.from_user(value)
    adapter = _adapter(expected)
    return value if adapter is None else adapter.validate_python(value)


def _byte_stream(value: dict[str, Any]) -> ByteStream:
    # Text files may be sent as text; anything else as base64 `data`, the shape `jsonable` answers with.
    data = str(value["text"]).encode() if "text" in value else base64.b64decode(str(value["data"]), validate=True)
    return ByteStream(data=data, mime_type=value.get("mime_type"), meta=dict(value.get("meta") or {}))


@lru_cache(maxsize=1024)
def _adapter(expected: Any) -> TypeAdapter[Any] | None:
    try:
        return TypeAdapter(expected)
    except Exception:  # arbitrary classes pydantic cannot describe: leave the value to the component
        return None


def _type_name(expected: Any) -> str:
    return getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
