"""Reading definition files for `stackyard apply`: what Haystack's `Pipeline.dumps()` writes is read too."""

from __future__ import annotations

from pathlib import Path

from haystack import Pipeline
from haystack.components.converters import PyPDFToDocument

from stackyard.commands.definitions import read_definition


def test_a_file_dumped_by_haystack_keeps_its_metadata_name(tmp_path: Path) -> None:
    pipeline = Pipeline(metadata={"name": "pdfs", "description": "PDF to documents"})
    pipeline.add_component("pdf", PyPDFToDocument())
    path = tmp_path / "dumped.yml"
    path.write_text(pipeline.dumps())
    assert "!!python/tuple" in path.read_text()
    item = read_definition(path).item
    assert (item.name, item.description, item.yaml) == ("pdfs", "PDF to documents", path.read_text())
