"""Hayhooks' own way to stream a pipeline: a Python wrapper (Hayhooks streams no YAML-deployed pipeline). It runs
`paced.yml`, which the benchmark writes beside it, the same pipeline Stackyard streams, and answers its OpenAI-
compatible chat route with Hayhooks' `streaming_generator`, as Hayhooks' documentation shows."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from hayhooks import BasePipelineWrapper, get_last_user_message, streaming_generator
from haystack import Pipeline


class PipelineWrapper(BasePipelineWrapper):
    def setup(self) -> None:
        self.pipeline = Pipeline.loads((Path(__file__).parent / "paced.yml").read_text())

    def run_chat_completion(self, model: str, messages: list[dict], body: dict) -> Generator:
        question = get_last_user_message(messages)
        return streaming_generator(pipeline=self.pipeline, pipeline_run_args={"prompt": {"question": question}})
