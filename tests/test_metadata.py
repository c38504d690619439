"""Setting a definition's name, description and labels in its `metadata`, the rest of the text kept as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackyard.definitions.discovery import definition_in
from stackyard.definitions.metadata import MetadataNotWritten, load, with_metadata
from tests.yamls import prompt_yaml

COMMENTED = """# Greets people: the first line of the file.
components:
  prompt:   # the only component
    type: haystack.components.builders.prompt_builder.PromptBuilder
    init_parameters:
      template: "Hello {{ name }}"   # quoted as written
      required_variables: [name]
connections: []
"""


def written(text: str, description: str = "Greets", labels: dict[str, str] | None = None) -> str:
    result = with_metadata(text, name="greet", description=description, labels=labels or {"team": "docs"})
    read = definition_in(Path("greet.yml"), result)
    assert (read.name, read.description, read.labels) == ("greet", description, labels or {"team": "docs"})
    assert with_metadata(result, name="greet", description=description, labels=read.labels) is result  # once only
    return result


def test_a_text_without_metadata_gets_a_block_at_its_end_and_keeps_every_line() -> None:
    assert (
        written(COMMENTED) == COMMENTED + "metadata:\n  name: greet\n  description: Greets\n  labels:\n    team: docs\n"
    )


def test_a_text_whose_metadata_already_says_it_all_is_returned_as_it_is() -> None:
    text = COMMENTED + "metadata:\n  name: greet  # kept\n  description: Greets\n  labels: {team: docs}\n"
    assert written(text) is text


def test_keys_of_a_block_are_replaced_or_added_in_place_and_the_other_keys_and_comments_stay() -> None:
    text = (
        COMMENTED
        + "metadata:\n  owner: search   # who to ask\n  labels:\n    team: old  # replaced\n\n  # about the tool\n"
        + "  mcp: true\n# after the block\ninputs: {name: prompt.name}\n"
    )
    assert written(text) == (
        COMMENTED + "metadata:\n  owner: search   # who to ask\n  labels:\n    team: docs\n\n  # about the tool\n"
        "  mcp: true\n  name: greet\n  description: Greets\n# after the block\ninputs: {name: prompt.name}\n"
    )


def test_a_one_line_flow_mapping_stays_one_line_with_its_comment() -> None:
    text = COMMENTED + "metadata: {mcp: true}  # a tool too\n"
    assert written(text) == (
        COMMENTED + "metadata: {mcp: true, name: greet, description: Greets, labels: {team: docs}}  # a tool too\n"
    )


def test_a_description_of_several_lines_is_a_literal_block() -> None:
    assert "  description: |-\n    Greets\n    people\n  labels:\n" in written(COMMENTED, "Greets\npeople")


@pytest.mark.parametrize(
    "metadata",
    [
        "metadata:\n",  # no mapping at all
        "metadata: {mcp: true,\n  owner: search}\n",  # flow over several lines
        "metadata:\n  name: other\n  description: |\n    old\n    text\n\n",  # a block scalar and blank lines
        "metadata:\n    description: deeper\n    labels:\n    - not a mapping\n",
    ],
)
def test_other_layouts_of_metadata_are_rewritten_as_a_block_and_the_rest_kept(metadata: str) -> None:
    result = written(COMMENTED + metadata + "inputs: {name: prompt.name}  # last\n")
    assert result.startswith(COMMENTED + "metadata:\n")
    assert result.endswith("inputs: {name: prompt.name}  # last\n")


@pytest.mark.parametrize(
    "text",
    [
        "{components: {prompt: {type: a.B}}, connections: []}\n",  # a flow document
        "components:\n  prompt: {type: a.B, init_parameters: {l: &l {team: x}}}\nmetadata:\n  labels: *l\n",  # alias
        "---\ncomponents:\n  prompt: {type: a.B}\n...\n",  # a document end marker
        "components:\n  prompt: {type: a.B, init_parameters: {pair: !!python/tuple [1, 2]}}\n...\n",
    ],
)
def test_a_text_that_cannot_be_edited_in_place_is_written_anew_meaning_the_same(text: str) -> None:
    before, after = load(text), load(written(text))
    assert after.pop("metadata") == {"name": "greet", "description": "Greets", "labels": {"team": "docs"}}
    before.pop("metadata", None)
    assert after == before  # tuples stay tuples


def test_no_description_and_no_labels_need_no_keys() -> None:
    result = with_metadata(prompt_yaml() + "metadata: {name: other}\n", name="greet", description="", labels={})
    assert result == prompt_yaml() + "metadata: {name: greet}\n"


def test_a_text_with_no_last_newline_gets_one_before_the_block() -> None:
    assert written("components: {prompt: {type: a.B}}  # no newline").startswith(
        "components: {prompt: {type: a.B}}  # no newline\nmetadata:\n"
    )


def test_a_text_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(MetadataNotWritten, match="not a mapping"):
        with_metadata("- a list\n", name="greet", description="", labels={})
