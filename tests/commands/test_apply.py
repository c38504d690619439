"""`stackyard apply` against a real server: created, unchanged, updated with a diff, prune, dry run, refusals."""

from __future__ import annotations

import json
from pathlib import Path

from stackyard.client import Client
from tests.commands.conftest import Stackyard
from tests.yamls import prompt_yaml


def folder(tmp_path: Path, **templates: str) -> Path:
    path = tmp_path / "pipelines"
    path.mkdir(exist_ok=True)
    for name, template in templates.items():
        (path / f"{name}.yml").write_text(prompt_yaml(template))
    return path


def test_apply_creates_a_folder_then_a_second_apply_changes_nothing(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    path = folder(tmp_path, a="Hello {{ name }}", b="Hi {{ name }}")
    (path / "notes.txt").write_text("not a definition")
    first = stackyard("apply", "-f", path)
    assert first.exit_code == 0, first.output
    assert [line.split()[:2] for line in first.stdout.splitlines()] == [["created", "a"], ["created", "b"]]
    revisions = [(p.name, p.revision) for p in yard.list_pipelines()]
    again = stackyard("apply", "-f", path)
    assert again.exit_code == 0
    assert [line.split()[:2] for line in again.stdout.splitlines()] == [["unchanged", "a"], ["unchanged", "b"]]
    assert [(p.name, p.revision) for p in yard.list_pipelines()] == revisions


def test_a_changed_file_is_updated_and_its_diff_shown(stackyard: Stackyard, yard: Client, tmp_path: Path) -> None:
    path = folder(tmp_path, a="Hello {{ name }}", b="Hi {{ name }}")
    stackyard("apply", "-f", path)
    (path / "b.yml").write_text(prompt_yaml("Howdy {{ name }}"))
    result = stackyard("apply", "-f", path)
    assert result.exit_code == 0
    assert '-      template: "Hi {{ name }}"' in result.stdout
    assert '+      template: "Howdy {{ name }}"' in result.stdout
    assert ["updated", "b"] in [line.split()[:2] for line in result.stdout.splitlines()]
    assert yard.run("b", {"name": "x"}).result == {"prompt": {"prompt": "Howdy x"}}


def test_prune_deletes_pipelines_no_file_defines(stackyard: Stackyard, yard: Client, tmp_path: Path) -> None:
    yard.put_pipeline("stray", prompt_yaml())
    path = folder(tmp_path, a="Hello {{ name }}")
    without = stackyard("apply", "-f", path)
    assert [p.name for p in yard.list_pipelines()] == ["a", "stray"]
    assert "stray" not in without.stdout
    pruned = stackyard("apply", "-f", path, "--prune")
    assert ["deleted", "stray"] in [line.split() for line in pruned.stdout.splitlines()]
    assert [p.name for p in yard.list_pipelines()] == ["a"]


def test_dry_run_reports_what_would_change_and_changes_nothing(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    yard.put_pipeline("a", prompt_yaml("Old {{ name }}"))
    yard.put_pipeline("stray", prompt_yaml())
    before = [(p.name, p.revision) for p in yard.list_pipelines()]
    path = folder(tmp_path, a="New {{ name }}", b="Hi {{ name }}")
    result = stackyard("apply", "-f", path, "--prune", "--dry-run")
    assert result.exit_code == 0
    lines = [line.split()[:3] for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert lines == [["would", "create", "b"], ["would", "update", "a"], ["would", "delete", "stray"]]
    assert '+      template: "New {{ name }}"' in result.stdout
    assert "nothing was changed" in result.stderr
    assert [(p.name, p.revision) for p in yard.list_pipelines()] == before


def test_refused_definitions_exit_non_zero_with_each_reason_and_apply_nothing(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    path = folder(tmp_path, good="Hello {{ name }}")
    (path / "broken.yml").write_text("components:\n  a: [1\n")
    (path / "listed.yaml").write_text("- not a mapping\n")
    result = stackyard("apply", "-f", path)
    assert result.exit_code == 1
    assert "The pipeline definition is not valid (422)" in result.stderr
    assert "- broken line 3: The YAML cannot be parsed" in result.stderr
    assert "- listed: The definition is a YAML list" in result.stderr
    assert "Traceback" not in result.output
    assert yard.list_pipelines() == []


def test_metadata_names_the_pipeline_and_carries_description_and_labels(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    text = prompt_yaml() + "metadata:\n  name: greeter\n  description: Greets\n  labels: {team: docs}\n"
    (tmp_path / "whatever.yml").write_text(text)
    assert stackyard("apply", "-f", tmp_path / "whatever.yml").exit_code == 0
    got = yard.get_pipeline("greeter")
    assert (got.description, got.labels, got.yaml) == ("Greets", {"team": "docs"}, text)


def test_two_files_naming_the_same_pipeline_are_refused_before_sending(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    (tmp_path / "a.yml").write_text(prompt_yaml())
    (tmp_path / "b.yml").write_text(prompt_yaml() + "metadata: {name: a}\n")
    result = stackyard("apply", "-f", tmp_path)
    assert result.exit_code == 1
    assert "both define pipeline 'a'" in result.stderr
    assert yard.list_pipelines() == []


def test_json_output_lists_outcomes_and_diffs_for_scripts(stackyard: Stackyard, tmp_path: Path) -> None:
    path = folder(tmp_path, a="Hello {{ name }}")
    stackyard("apply", "-f", path)
    (path / "a.yml").write_text(prompt_yaml("Hi {{ name }}"))
    (path / "c.yml").write_text(prompt_yaml())
    report = json.loads(stackyard("apply", "-f", path, "-o", "json").stdout)
    assert (report["created"], report["updated"], report["dry_run"]) == (["c"], ["a"], False)
    assert '+      template: "Hi {{ name }}"' in report["diffs"]["a"]


def test_many_files_apply_in_one_transaction(stackyard: Stackyard, yard: Client, tmp_path: Path) -> None:
    path = folder(tmp_path, **{f"p{index:02d}": f"Hello {index} {{{{ name }}}}" for index in range(12)})
    result = stackyard("apply", "-f", path)
    assert result.exit_code == 0
    assert "12 created" in result.stderr
    assert len({p.name for p in yard.list_pipelines()}) == 12
