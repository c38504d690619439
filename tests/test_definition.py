"""Parsing definitions: the tags Haystack writes, keys Haystack 3 ignores, and the Hayhooks sections."""

from __future__ import annotations

import pytest
import yaml
from haystack.marshal.yaml import YamlLoader

from stackyard.cell.parsing import parse_definition
from stackyard.errors import InvalidDefinition
from stackyard.wire.definition import Definition, SocketRef
from tests.yamls import prompt_yaml

LIMIT = 1_000_000
ADD = "haystack.testing.sample_components.add_value.AddFixedValue"
TWO_ADDERS = f"""components:
  first: {{type: {ADD}, init_parameters: {{add: 1}}}}
  second: {{type: {ADD}, init_parameters: {{add: 2}}}}
connections:
  - {{sender: first.result, receiver: second.value}}
"""


def parse(text: str) -> Definition:
    return parse_definition(text, max_bytes=LIMIT)


def refusal(text: str) -> InvalidDefinition:
    with pytest.raises(InvalidDefinition) as caught:
        parse(text)
    return caught.value


# -- tags ----------------------------------------------------------------------------------------------------------


def test_python_tuple_tag_is_read_as_a_tuple_as_haystack_reads_it() -> None:
    text = prompt_yaml().replace("required_variables: [name]", "required_variables: !!python/tuple [name]")
    definition = parse(text)
    params = definition.pipeline["components"]["prompt"]["init_parameters"]
    assert params["required_variables"] == ("name",)
    assert definition.pipeline == {
        key: value for key, value in yaml.load(text, Loader=YamlLoader).items() if key in definition.pipeline
    }


def test_a_tuple_shared_through_an_anchor_is_read_once_for_both_keys() -> None:
    text = prompt_yaml().replace(
        "required_variables: [name]", "required_variables: &names !!python/tuple [name]\n      variables: *names"
    )
    params = parse(text).pipeline["components"]["prompt"]["init_parameters"]
    assert params["required_variables"] == params["variables"] == ("name",)


@pytest.mark.parametrize(
    ("tag", "line", "column"),
    [
        ("!!python/object/apply:os.system ['id']", 6, 27),
        ("!!python/name:os.system ''", 6, 27),
        ("!!python/object:stackyard.settings.Settings {}", 6, 27),
        ("!!python/list [name]", 6, 27),
        ("!custom [name]", 6, 27),
    ],
)
def test_every_other_tag_is_refused_with_its_line_and_column(tag: str, line: int, column: int) -> None:
    error = refusal(prompt_yaml().replace("required_variables: [name]", f"required_variables: {tag}"))
    assert (error.extensions["line"], error.extensions["column"]) == (line, column)
    assert tag.split(" ", maxsplit=1)[0] in error.detail
    assert "!!python/tuple" in error.detail  # says what is read instead


def test_haystack_loader_reads_no_python_tag_but_the_tuple() -> None:
    # Definitions are read with Haystack's own loader; this fails if a Haystack upgrade teaches it another tag,
    # which must then be judged before it is accepted from the network.
    extra = set(YamlLoader.yaml_constructors) - set(yaml.SafeLoader.yaml_constructors)
    assert extra == {"tag:yaml.org,2002:python/tuple"}
    assert YamlLoader.yaml_multi_constructors == yaml.SafeLoader.yaml_multi_constructors


# -- keys Haystack 3 reads and ignores ------------------------------------------------------------------------------


def test_max_loops_allowed_is_kept_out_of_the_pipeline_and_warned() -> None:
    definition = parse(prompt_yaml() + "max_loops_allowed: 100\n")
    assert "max_loops_allowed" not in definition.pipeline
    (warning,) = definition.warnings
    assert "'max_loops_allowed'" in warning
    assert "Haystack 3" in warning
    assert "max_runs_per_component" in warning


def test_a_definition_without_ignored_keys_has_no_warnings() -> None:
    assert parse(prompt_yaml()).warnings == []


def test_an_unknown_top_level_key_is_still_refused() -> None:
    error = refusal(prompt_yaml() + "max_loop_allowed: 100\n")
    assert "'max_loop_allowed'" in error.detail


# -- streaming_components -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("streaming_components: [first, second]\n", ("first", "second")),
        ("streaming_components:\n  - second\n", ("second",)),
        ("streaming_components: all\n", "all"),
        ("streaming_components: ALL\n", "all"),
        ("streaming_components: {first: true, second: false}\n", ("first",)),  # earlier Hayhooks releases
        ("streaming_components: []\n", ()),
        ("", None),
    ],
)
def test_streaming_components_are_kept_on_the_definition(section: str, expected: object) -> None:
    definition = parse(TWO_ADDERS + section)
    assert definition.streaming_components == expected
    assert "streaming_components" not in definition.pipeline


def test_streaming_components_naming_a_missing_component_is_refused() -> None:
    error = refusal(TWO_ADDERS + "streaming_components: [first, ghost]\n")
    assert "'ghost'" in error.detail
    assert "streaming_components" in error.detail


@pytest.mark.parametrize("value", ["some", "3", "[1, 2]", "{first: maybe}", "[[first]]"])
def test_streaming_components_of_another_shape_is_refused(value: str) -> None:
    error = refusal(TWO_ADDERS + f"streaming_components: {value}\n")
    assert "'all' or a list of component names" in error.detail


# -- inputs and outputs ---------------------------------------------------------------------------------------------


def test_an_output_may_list_several_sockets() -> None:
    definition = parse(TWO_ADDERS + "outputs:\n  total: [second.result, first.result]\n  one: [first.result]\n")
    assert definition.outputs == {
        "total": (SocketRef("second", "result"), SocketRef("first", "result")),
        "one": (SocketRef("first", "result"),),
    }


def test_an_output_that_lists_no_socket_is_refused() -> None:
    assert "'total' maps to no socket" in refusal(TWO_ADDERS + "outputs:\n  total: []\n").detail


def test_two_inputs_mapped_to_one_socket_are_refused() -> None:
    error = refusal(TWO_ADDERS + "inputs:\n  start: [first.value]\n  begin: first.value\n")
    assert "'start' and 'begin'" in error.detail
    assert "'first.value'" in error.detail


def test_one_input_listing_a_socket_twice_is_refused() -> None:
    error = refusal(TWO_ADDERS + "inputs:\n  start: [first.value, first.value]\n")
    assert "'start'" in error.detail
    assert "twice" in error.detail


def test_one_input_may_feed_several_sockets() -> None:
    definition = parse(TWO_ADDERS + "inputs:\n  start: [first.add, second.add]\n")
    assert definition.inputs == {"start": (SocketRef("first", "add"), SocketRef("second", "add"))}
