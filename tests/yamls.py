"""Definitions the tests deploy."""

from __future__ import annotations

import json

PROMPT = "haystack.components.builders.prompt_builder.PromptBuilder"


def component_yaml(kind: str, **params: object) -> str:
    """One component of the tests' own (`tests.components`), named `work`, with `params`."""
    return f"""components:
  work:
    type: tests.components.{kind}
    init_parameters: {json.dumps(params)}
connections: []
"""


def prompt_yaml(template: str = "Hello {{ name }}", required: str = "name") -> str:
    return f"""components:
  prompt:
    type: {PROMPT}
    init_parameters:
      template: "{template}"
      required_variables: [{required}]
connections: []
"""


BM25 = """components:
  retriever:
    type: haystack.components.retrievers.in_memory.bm25_retriever.InMemoryBM25Retriever
    init_parameters:
      document_store:
        type: haystack.document_stores.in_memory.document_store.InMemoryDocumentStore
        init_parameters: {index: test-bm25}
  prompt:
    type: haystack.components.builders.prompt_builder.PromptBuilder
    init_parameters:
      template: "{{ query }}: {% for d in documents %}{{ d.content }}{% endfor %}"
connections:
  - sender: retriever.documents
    receiver: prompt.documents
"""


def gate_yaml(key: str, reply: str) -> str:
    return f"""components:
  gate:
    type: tests.components.Gate
    init_parameters: {{key: {key}, reply: {reply}}}
connections: []
"""


EXPLODE = """components:
  boom:
    type: tests.components.Explode
    init_parameters: {}
connections: []
"""


def counter_yaml(key: str) -> str:
    return f"""components:
  counter:
    type: tests.components.Counter
    init_parameters: {{key: {key}}}
connections: []
"""
