"""A component for the container test, mounted into the container: it needs only Haystack, not the test suite."""

from __future__ import annotations

import time

from haystack import component


@component
class Sleep:
    """Answers its text after `seconds`: a run long enough to be in flight when the container is told to stop."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        time.sleep(self.seconds)
        return {"text": text}
