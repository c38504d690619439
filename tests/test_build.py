"""A build that fails names the component it failed on, from the component being built, never from Haystack's text."""

from __future__ import annotations

import pytest

from stackyard.cell.build import build_pipeline
from stackyard.cell.parsing import parse_definition
from stackyard.errors import InvalidDefinition

GOOD = """  first:
    type: haystack.components.builders.prompt_builder.PromptBuilder
    init_parameters: {template: "Hi {{ name }}"}
"""


@pytest.mark.parametrize(
    ("second", "says"),
    [
        ("type: haystack.components.builders.NoSuchBuilder", "not a Haystack component class"),
        (
            "type: haystack.components.builders.prompt_builder.PromptBuilder\n    init_parameters: {nope: 1}",
            "cannot be created from its init_parameters",
        ),
        (
            "type: haystack.components.retrievers.in_memory.bm25_retriever.InMemoryBM25Retriever\n"
            "    init_parameters: {document_store: {type: os.path.Thing}}",
            "trusted-module allowlist",
        ),
        ("init_parameters: {}", "needs a 'type'"),
    ],
    ids=["unknown type", "bad parameter", "module off the allowlist in a parameter", "no type"],
)
def test_the_component_that_fails_is_named_with_its_line(second: str, says: str) -> None:
    text = f"components:\n{GOOD}  second:\n    {second}\nconnections: []\n"
    with pytest.raises(InvalidDefinition) as refused:
        build_pipeline(parse_definition(text, max_bytes=100_000))
    assert (refused.value.extensions["component"], refused.value.extensions["line"]) == ("second", 5)
    assert says in refused.value.detail


def test_a_connection_that_does_not_fit_is_refused_after_every_component_was_built() -> None:
    second = GOOD.replace("first", "second")
    text = f"components:\n{GOOD}{second}connections:\n  - {{sender: first.prompt, receiver: second.nothing}}\n"
    with pytest.raises(InvalidDefinition, match="connection is not valid"):
        build_pipeline(parse_definition(text, max_bytes=100_000))
