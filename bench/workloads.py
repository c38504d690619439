"""The pipelines the benchmarks serve, as YAML texts with Hayhooks-style `inputs:`/`outputs:` sections."""

from __future__ import annotations

from pathlib import Path

INDEX = "bench"

TRIVIAL = """\
components:
  prompt:
    type: haystack.components.builders.prompt_builder.PromptBuilder
    init_parameters:
      template: "Hello, {{ name }}! Welcome to the stackyard.{{ tag }}"
      required_variables: [name]
connections: []
inputs:
  name: prompt.name
outputs:
  prompt: prompt.prompt
"""
TRIVIAL_INPUT = {"name": "Ada"}

BM25 = f"""\
components:
  retriever:
    type: haystack.components.retrievers.in_memory.bm25_retriever.InMemoryBM25Retriever
    init_parameters:
      top_k: 5
      document_store:
        type: haystack.document_stores.in_memory.document_store.InMemoryDocumentStore
        init_parameters:
          index: {INDEX}
  prompt:
    type: haystack.components.builders.prompt_builder.PromptBuilder
    init_parameters:
      required_variables: [query]
      template: |
        Answer from these documents:
        {{% for document in documents %}}- {{{{ document.content }}}}
        {{% endfor %}}
        Question: {{{{ query }}}}
connections:
  - sender: retriever.documents
    receiver: prompt.documents
inputs:
  query: [retriever.query, prompt.query]
outputs:
  prompt: prompt.prompt
"""
BM25_INPUT = {"query": "harvest of barley in the autumn rain"}


BURN = """\
components:
  burn:
    type: bench.corpus.Burn
    init_parameters: {milliseconds: 20}
connections: []
"""
BURN_INPUT = {"text": "x"}


def corpus(count: int) -> str:
    """A one-component pipeline whose construction fills the index the BM25 pipeline searches."""
    return f"""\
components:
  corpus:
    type: bench.corpus.SyntheticCorpus
    init_parameters: {{index: {INDEX}, count: {count}}}
connections: []
inputs:
  refresh: corpus.refresh
outputs:
  count: corpus.count
"""


def probe(revision_tag: int) -> str:
    """PromptBuilder plus a process probe: its run answer tells which worker served which revision."""
    return f"""\
components:
  prompt:
    type: haystack.components.builders.prompt_builder.PromptBuilder
    init_parameters:
      template: "Probe {revision_tag}: {{{{ name }}}}"
  pid:
    type: bench.corpus.ProcessId
    init_parameters: {{}}
connections: []
"""


def five_components(revision_tag: int) -> str:
    """A five-component retrieval pipeline that runs offline; `revision_tag` makes each text a new revision."""
    return f"""\
components:
  retriever:
    type: haystack.components.retrievers.in_memory.bm25_retriever.InMemoryBM25Retriever
    init_parameters:
      top_k: 3
      document_store:
        type: haystack.document_stores.in_memory.document_store.InMemoryDocumentStore
        init_parameters:
          index: bench-deploy
  joiner:
    type: haystack.components.joiners.document_joiner.DocumentJoiner
    init_parameters: {{}}
  prompt:
    type: haystack.components.builders.chat_prompt_builder.ChatPromptBuilder
    init_parameters:
      required_variables: [query]
      template: |
        {{% message role="user" %}}
        Revision {revision_tag}. Answer from these documents:
        {{% for document in documents %}}- {{{{ document.content }}}}
        {{% endfor %}}
        Question: {{{{ query }}}}
        {{% endmessage %}}
  llm:
    type: haystack.components.generators.chat.mock.MockChatGenerator
    init_parameters: {{}}
  answer:
    type: haystack.components.builders.answer_builder.AnswerBuilder
    init_parameters: {{}}
connections:
  - sender: retriever.documents
    receiver: joiner.documents
  - sender: joiner.documents
    receiver: prompt.documents
  - sender: prompt.prompt
    receiver: llm.messages
  - sender: llm.replies
    receiver: answer.replies
  - sender: joiner.documents
    receiver: answer.documents
inputs:
  query: [retriever.query, prompt.query, answer.query]
outputs:
  answers: answer.answers
"""


def retagged(yaml_text: str, tag: int) -> str:
    """The trivial pipeline with a different template: a new revision that runs the same work."""
    return yaml_text.replace("{{ tag }}", f" ({tag})")


def write(folder: Path, pipelines: dict[str, str]) -> Path:
    """Write `name.yml` files into `folder` (created) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in pipelines.items():
        (folder / f"{name}.yml").write_text(text)
    return folder
