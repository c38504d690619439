"""A module no definition may reach: importing it leaves a marker file, which the hostile suite checks is absent."""

from __future__ import annotations

import os
from pathlib import Path

from haystack import component

Path(os.environ.get("STACKYARD_TEST_MARKER", "/tmp/stackyard-hostile-imported")).write_text("imported")


@component
class Evil:
    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        return {"text": text}
