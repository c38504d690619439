"""Parsing definitions: the tags Haystack writes, and the keys Haystack 3 ignores."""

from __future__ import annotations

import pytest
import yaml
from haystack.marshal.yaml import YamlLoader

from stackyard.definition import Definition, parse_definition
from stackyard.errors import InvalidDefinition
from tests.yamls import prompt_yaml

LIMIT = 1_000_000


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
