"""Parsing a submitted YAML text into a `Definition`: syntax, structure and the Hayhooks sections.

Nothing here imports a component or builds a pipeline; that is `build.py`'s job. Every problem found here is an
`InvalidDefinition` with the line and column where the YAML parser knows them.

The text is read with Haystack's own YAML loader, so whatever `Pipeline.dumps()` writes is read back exactly as
`Pipeline.loads()` would read it: plain data, and tuples (`!!python/tuple`). Every other tag is refused.
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from haystack.marshal.yaml import YamlLoader
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.cyaml import CParser  # type: ignore[attr-defined]  # re-exported from yaml._yaml, libyaml's binding
from yaml.resolver import Resolver

from stackyard.errors import DefinitionTooLarge, InvalidDefinition, trim
from stackyard.wire.definition import CHAT_PARAMETERS, IGNORED_KEYS, Definition, ServingHints, SocketRef

# The keys Haystack's `Pipeline.from_dict` reads, plus the sections Hayhooks users already have in their files.
PIPELINE_KEYS = frozenset(
    {"components", "connections", "metadata", "max_runs_per_component", "connection_type_validation"}
)
HAYHOOKS_KEYS = frozenset({"inputs", "outputs", "streaming_components"})
# Stackyard's own: the components whose template a run may set (`templates.py`); none unless listed.
STACKYARD_KEYS = frozenset({"run_time_templates"})
KNOWN_KEYS = PIPELINE_KEYS | HAYHOOKS_KEYS | STACKYARD_KEYS | IGNORED_KEYS.keys()
MAX_ALIASES = 100
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 200_000  # what the document would hold with every alias copied out


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


class _BoundedLoader(CParser, YamlLoader):
    """Haystack's safe loader, refusing alias bombs and absurd nesting before building anything from them.

    The events come from libyaml's parser (`CParser`), several times faster than PyYAML's own (3.8 ms against
    0.6 ms for a five-component definition), and without recursion however deep the text nests; the nodes are
    composed here, in Python, where each one can be counted and refused.
    """

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._aliases = 0
        self._depth = 0

    # libyaml would compose the nodes too, out of reach of the bounds below: PyYAML's composer does it instead.
    check_node = Composer.check_node
    get_node = Composer.get_node
    get_single_node = Composer.get_single_node

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise InvalidDefinition(f"The YAML uses more than {MAX_ALIASES} aliases; expand them in the file.")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise InvalidDefinition(f"The YAML is nested deeper than {MAX_DEPTH} levels.")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def refuse_tag(self, node: yaml.Node) -> Any:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"the tag {_short_tag(node.tag)} is refused: a definition holds plain data, and of the Python tags "
            "only !!python/tuple (which Haystack writes) is read",
            node.start_mark,
        )


_BoundedLoader.add_constructor(None, _BoundedLoader.refuse_tag)


def parse_definition(text: str, *, max_bytes: int) -> Definition:
    """Parse and check the shape of a definition; raise `InvalidDefinition` (422) or `DefinitionTooLarge` (413)."""
    size = len(text.encode())
    if size > max_bytes:
        raise DefinitionTooLarge(f"The definition has {size} bytes; the limit is {max_bytes}.", limit=max_bytes)
    data = _load_yaml(text)
    if data is None:
        raise InvalidDefinition("The definition is empty: send a YAML mapping with a 'components' section.")
    if not isinstance(data, dict):
        raise InvalidDefinition(
            f"The definition is a YAML {type(data).__name__}, not a mapping: "
            "the top level must hold 'components' and, optionally, 'connections'."
        )
    unknown = sorted(str(key) for key in data if key not in KNOWN_KEYS)
    if unknown:
        raise InvalidDefinition(
            f"Unknown top-level key(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(sorted(PIPELINE_KEYS | HAYHOOKS_KEYS | STACKYARD_KEYS))}."
        )
    components = data.get("components")
    if not isinstance(components, dict) or not components:
        raise InvalidDefinition("'components' must be a non-empty mapping of component name to its definition.")
    for name, spec in components.items():
        _check_component(str(name), spec, text)
    _check_connections(data.get("connections", []), components)
    _check_serving_metadata(data.get("metadata"))
    pipeline = {key: value for key, value in data.items() if key in PIPELINE_KEYS}
    return Definition(
        text=text,
        pipeline=pipeline,
        inputs=_parse_inputs(data.get("inputs")),
        outputs=_parse_outputs(data.get("outputs")),
        streaming_components=_parse_streaming(data.get("streaming_components"), components),
        ignored_keys=tuple(key for key in data if key in IGNORED_KEYS),
        run_time_templates=_parse_run_time_templates(data.get("run_time_templates"), components),
        serving=_parse_serving((data.get("metadata") or {}).get("serving")),
    )


def _expanded_size(node: yaml.Node, sizes: dict[yaml.Node, int]) -> int:
    # Aliases share one node, so PyYAML itself never expands them; anything that copies or serialises the result
    # would. Count what full expansion would make (memoised per node, so this costs one pass over the nodes).
    # Nodes hash by identity; keyed by `id()` instead, each lookup would be an audit event in a contained worker.
    known = sizes.get(node)
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(key, sizes) + _expanded_size(value, sizes) for key, value in node.value)
    sizes[node] = size
    return size


def _load_yaml(text: str) -> Any:
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise InvalidDefinition(
                f"The YAML expands to more than {MAX_EXPANDED_NODES} nodes through aliases; it is refused unexpanded."
            )
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or error.context or "invalid syntax"
        raise InvalidDefinition(
            f"The YAML cannot be parsed{where}: {problem}.",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.reader.ReaderError as error:  # unprintable characters
        raise InvalidDefinition(f"The YAML cannot be read: {trim(str(error), 200)}.") from None
    except yaml.YAMLError as error:
        raise InvalidDefinition(f"The YAML cannot be parsed: {error}.") from None
    finally:
        loader.dispose()


def component_line(text: str, component: str) -> int | None:
    """The 1-based line where `component` is defined under `components:`, when the text shows it."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if key.value == "components" and isinstance(value, yaml.MappingNode):
            for name_node, _ in value.value:
                if name_node.value == component:
                    return int(name_node.start_mark.line) + 1
    return None


def _check_component(name: str, spec: Any, text: str) -> None:
    if (
        isinstance(spec, dict)
        and isinstance(spec.get("type"), str)
        and "." in spec["type"]
        and isinstance(spec.get("init_parameters", {}), dict | None)
    ):
        return  # valid; finding the line re-parses the whole text, so it is done only for an error message
    line = component_line(text, name)
    if not isinstance(spec, dict):
        raise InvalidDefinition(
            f"Component '{name}' must be a mapping with 'type' and 'init_parameters'.", component=name, line=line
        )
    component_type = spec.get("type")
    if not isinstance(component_type, str) or "." not in component_type:
        raise InvalidDefinition(
            f"Component '{name}' needs a 'type' that is a full class path, such as "
            "'haystack.components.builders.prompt_builder.PromptBuilder'.",
            component=name,
            line=line,
        )
    params = spec.get("init_parameters", {})
    if params is not None and not isinstance(params, dict):
        raise InvalidDefinition(
            f"'init_parameters' of component '{name}' must be a mapping.", component=name, line=line
        )


def _check_connections(connections: Any, components: dict[str, Any]) -> None:
    if connections is None:
        return
    if not isinstance(connections, list):
        raise InvalidDefinition("'connections' must be a list of {sender, receiver} mappings.")
    for index, connection in enumerate(connections):
        if not isinstance(connection, dict) or not {"sender", "receiver"} <= connection.keys():
            raise InvalidDefinition(f"Connection #{index + 1} must have both 'sender' and 'receiver'.")
        for role in ("sender", "receiver"):
            endpoint = connection[role]
            if not isinstance(endpoint, str) or not endpoint:
                raise InvalidDefinition(
                    f"The {role} of connection #{index + 1} must be 'component' or 'component.socket'."
                )
            component = endpoint.split(".", 1)[0]
            if component not in components:
                raise InvalidDefinition(
                    f"Connection #{index + 1} names {role} component '{component}', which is not in 'components'.",
                    component=component,
                )


def _socket_ref(value: Any, where: str) -> SocketRef:
    if not isinstance(value, str) or value.count(".") != 1 or value.startswith(".") or value.endswith("."):
        raise InvalidDefinition(f"{where} must be written 'component.socket', not {str(value)[:80]!r}.")
    component, socket = value.split(".")
    return SocketRef(component, socket)


def _socket_refs(target: Any, where: str) -> tuple[SocketRef, ...]:
    targets = target if isinstance(target, list) else [target]
    if not targets:
        raise InvalidDefinition(f"{where} maps to no socket.")
    refs = tuple(_socket_ref(item, where) for item in targets)
    if len(set(refs)) < len(refs):
        raise InvalidDefinition(f"{where} lists the same socket twice; list each socket once.")
    return refs


def _parse_inputs(section: Any) -> dict[str, tuple[SocketRef, ...]]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise InvalidDefinition("'inputs' must map friendly names to 'component.socket' or a list of them.")
    mapping: dict[str, tuple[SocketRef, ...]] = {}
    fed_by: dict[SocketRef, str] = {}
    for friendly, target in section.items():
        refs = _socket_refs(target, f"Input '{friendly}'")
        for ref in refs:
            other = fed_by.setdefault(ref, str(friendly))
            if other != str(friendly):
                # Haystack takes one value per socket: one of the two would silently win.
                raise InvalidDefinition(
                    f"Inputs '{other}' and '{friendly}' both map to '{ref}', which takes one value; keep one "
                    "of them (one friendly name may list several sockets, not the other way round).",
                    component=ref.component,
                )
        mapping[str(friendly)] = refs
    return mapping


def _parse_outputs(section: Any) -> dict[str, tuple[SocketRef, ...]]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise InvalidDefinition("'outputs' must map friendly names to 'component.socket' or a list of them.")
    return {str(friendly): _socket_refs(target, f"Output '{friendly}'") for friendly, target in section.items()}


def _parse_streaming(section: Any, components: dict[str, Any]) -> tuple[str, ...] | Literal["all"] | None:
    if section is None:
        return None
    if isinstance(section, str) and section.lower() == "all":
        return "all"
    if isinstance(section, dict) and all(isinstance(flag, bool) for flag in section.values()):
        section = [name for name, flag in section.items() if flag]  # `{llm: true}`, as earlier Hayhooks releases read
    if not isinstance(section, list) or not all(isinstance(name, str) for name in section):
        raise InvalidDefinition("'streaming_components' must be 'all' or a list of component names.")
    missing = [name for name in section if name not in components]
    if missing:
        raise InvalidDefinition(
            f"'streaming_components' names component(s) that are not in 'components': {', '.join(map(repr, missing))}.",
            component=missing[0],
        )
    return tuple(dict.fromkeys(section))


def _check_serving_metadata(metadata: Any) -> None:
    """The metadata keys Stackyard reads, `mcp` (an MCP tool) and `chat` (an OpenAI-compatible model), in shapes it
    can read: refused at deploy rather than silently ignored."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise InvalidDefinition("'metadata' must be a mapping.")
    mcp = metadata.get("mcp")
    if mcp is not None and not isinstance(mcp, bool):
        if not isinstance(mcp, dict) or set(mcp) - {"name", "description"}:
            raise InvalidDefinition("'metadata.mcp' must be true, false, or a mapping of 'name' and 'description'.")
        if not all(isinstance(value, str) for value in mcp.values()):
            raise InvalidDefinition("'metadata.mcp' name and description must be strings.")
    chat = metadata.get("chat")
    if chat is not None and (
        not isinstance(chat, dict)
        or not isinstance(chat.get("input"), str)
        or set(chat) - {"input", "output", "model", "parameters"}
        or not all(isinstance(value, str) for key, value in chat.items() if key != "parameters")
    ):
        raise InvalidDefinition(
            "'metadata.chat' must be a mapping with 'input' (the input that receives the conversation) and, "
            "optionally, 'output' (where the reply is) and 'model' (its name for clients), all strings, and "
            "'parameters' (the request parameters passed on)."
        )
    parameters = chat.get("parameters") if chat is not None else None
    if parameters is not None and (
        not isinstance(parameters, list) or not all(name in CHAT_PARAMETERS for name in parameters)
    ):
        raise InvalidDefinition(
            "'metadata.chat.parameters' must be a list of the OpenAI request parameters a caller may set for this "
            f"pipeline, from: {', '.join(CHAT_PARAMETERS)}."
        )


MAX_PROCESSES = 64  # cells one pipeline may ask for: more than any host here has cores


def _parse_serving(section: Any) -> ServingHints:
    """`metadata.serving`: `isolated` (bool), `processes` (cells of its own, 1 to 64), `max_input_chars`."""
    if section is None:
        return ServingHints()
    if not isinstance(section, dict) or set(section) - {"isolated", "processes", "max_input_chars"}:
        raise InvalidDefinition(
            "'metadata.serving' must be a mapping of 'isolated' (true or false), 'processes' (how many cells of its "
            "own serve the pipeline) and 'max_input_chars' (the longest string a run may send)."
        )
    isolated = section.get("isolated", False)
    if not isinstance(isolated, bool):
        raise InvalidDefinition("'metadata.serving.isolated' must be true or false.")
    processes = section.get("processes")
    if processes is not None and (
        not isinstance(processes, int) or isinstance(processes, bool) or not 1 <= processes <= MAX_PROCESSES
    ):
        raise InvalidDefinition(f"'metadata.serving.processes' must be a whole number from 1 to {MAX_PROCESSES}.")
    chars = section.get("max_input_chars")
    if chars is not None and (not isinstance(chars, int) or isinstance(chars, bool) or chars < 1):
        raise InvalidDefinition("'metadata.serving.max_input_chars' must be a whole number of at least 1.")
    return ServingHints(isolated=isolated, processes=processes, max_input_chars=chars)


def _parse_run_time_templates(section: Any, components: dict[str, Any]) -> tuple[str, ...]:
    if section is None:
        return ()
    if not isinstance(section, list) or not all(isinstance(name, str) for name in section):
        raise InvalidDefinition("'run_time_templates' must be a list of component names.")
    missing = [name for name in section if name not in components]
    if missing:
        raise InvalidDefinition(
            f"'run_time_templates' names component(s) that are not in 'components': {', '.join(map(repr, missing))}.",
            component=missing[0],
        )
    return tuple(dict.fromkeys(section))
