"""The one set of rules by which start-up files and `stackyard apply -f` name and describe pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackyard.definitions.discovery import DefinitionFile, DiscoveryError, discover, read_definition
from tests.conftest import REPO
from tests.yamls import prompt_yaml


def test_a_folder_gives_its_yaml_files_in_name_order_named_by_stem(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(prompt_yaml())
    (tmp_path / "a.yml").write_text(prompt_yaml("Hi {{ name }}"))
    (tmp_path / "notes.txt").write_text("not a definition")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "c.yml").write_text(prompt_yaml())
    found = discover([tmp_path])
    assert [(file.name, file.path.name) for file in found] == [("a", "a.yml"), ("b", "b.yaml")]
    assert found[0] == DefinitionFile(tmp_path / "a.yml", "a", prompt_yaml("Hi {{ name }}"), "", {})


def test_metadata_names_the_pipeline_and_gives_its_description_and_labels(tmp_path: Path) -> None:
    text = prompt_yaml() + "metadata:\n  name: greeter\n  description: Greets\n  labels: {team: docs, tier: 2}\n"
    (tmp_path / "whatever.yml").write_text(text)
    assert discover([tmp_path / "whatever.yml"]) == [
        DefinitionFile(tmp_path / "whatever.yml", "greeter", text, "Greets", {"team": "docs", "tier": "2"})
    ]


def test_text_that_does_not_parse_is_kept_as_written_for_the_server_to_explain(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("components:\n  a: [1\n")
    assert [(file.name, file.yaml) for file in discover([tmp_path])] == [("broken", "components:\n  a: [1\n")]


def test_two_files_naming_one_pipeline_are_refused_with_both_paths(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(prompt_yaml())
    (tmp_path / "b.yml").write_text(prompt_yaml() + "metadata: {name: a}\n")
    with pytest.raises(DiscoveryError, match=r"a\.yml and .*b\.yml both define pipeline 'a'"):
        discover([tmp_path])


def test_a_file_whose_name_is_no_pipeline_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Not A Name.yml").write_text(prompt_yaml())
    with pytest.raises(DiscoveryError, match=r"Not A Name\.yml: 'Not A Name' is not a valid pipeline name"):
        discover([tmp_path])


def test_a_path_that_names_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match=r"missing: no such file or folder"):
        discover([tmp_path / "missing"])


def test_the_example_pipelines_are_named_by_their_files() -> None:
    assert [file.name for file in discover([REPO / "examples" / "pipelines"])] == ["chat", "greet", "indexing", "query"]


def test_a_file_dumped_by_haystack_keeps_its_metadata_name(tmp_path: Path) -> None:
    from haystack import Pipeline
    from haystack.components.converters import PyPDFToDocument

    pipeline = Pipeline(metadata={"name": "pdfs", "description": "PDF to documents"})
    pipeline.add_component("pdf", PyPDFToDocument())
    path = tmp_path / "dumped.yml"
    path.write_text(pipeline.dumps())
    assert "!!python/tuple" in path.read_text()
    found = read_definition(path)
    assert (found.name, found.description, found.yaml) == ("pdfs", "PDF to documents", path.read_text())
