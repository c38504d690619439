"""`stackyard export` and `stackyard diff -f` against a real server: the folder and the server round-trip."""

from __future__ import annotations

import json
from pathlib import Path

from stackyard.client import Client
from tests.commands.conftest import Stackyard
from tests.yamls import prompt_yaml

# Written by a person: comments, their own quoting and order, metadata that names and describes the pipeline.
DESCRIBED = """# Says hello. Owned by the docs team.
components:
  prompt:   # the only component
    type: haystack.components.builders.prompt_builder.PromptBuilder
    init_parameters:
      template: 'Hi {{ name }}'   # single quotes, as written
      required_variables: [name]
connections: []
metadata:
  labels: {team: docs}
  description: Greets people   # shown in `stackyard list`
  name: described
"""


def outcomes(text: str) -> list[list[str]]:
    return [line.split()[:2] for line in text.splitlines() if line and not line.startswith(" ")]


def test_export_then_apply_changes_nothing(stackyard: Stackyard, yard: Client, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "anything.yml").write_text(DESCRIBED)
    assert stackyard("apply", "-f", source).exit_code == 0
    yard.put_pipeline("plain", prompt_yaml())  # no metadata, no description, no labels
    yard.put_pipeline("off", prompt_yaml("Bye {{ name }}"))
    yard.patch_pipeline("off", enabled=False)
    revisions = [(p.name, p.revision) for p in yard.list_pipelines()]
    folder = tmp_path / "exported"
    exported = stackyard("export", folder)
    assert exported.exit_code == 0, exported.output
    assert sorted(path.name for path in folder.iterdir()) == ["described.yml", "off.yml", "plain.yml"]
    assert (folder / "described.yml").read_text() == DESCRIBED  # the stored text, comments and all
    assert (folder / "plain.yml").read_text() == prompt_yaml()
    assert "Disabled on the server: off." in exported.stderr
    applied = stackyard("apply", "-f", folder)
    assert applied.exit_code == 0
    assert outcomes(applied.stdout) == [["unchanged", "described"], ["unchanged", "off"], ["unchanged", "plain"]]
    assert [(p.name, p.revision) for p in yard.list_pipelines()] == revisions
    assert not yard.get_pipeline("off").enabled
    assert stackyard("diff", "-f", folder).exit_code == 0
    again = stackyard("export", folder)
    assert outcomes(again.stdout) == [["unchanged", "described"], ["unchanged", "off"], ["unchanged", "plain"]]


def test_a_description_and_labels_set_through_the_api_go_into_the_metadata_and_applying_it_changes_nothing(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    text = DESCRIBED.split("metadata:", maxsplit=1)[0] + "metadata:\n  owner: search   # who to ask\n# the end\n"
    yard.put_pipeline("api", text, description="Set through the API", labels={"team": "search", "tier": "1"})
    exported = stackyard("export", tmp_path)
    assert exported.exit_code == 0
    assert "metadata added" in exported.stdout
    written = DESCRIBED.split("metadata:", maxsplit=1)[0] + (
        "metadata:\n  owner: search   # who to ask\n  name: api\n  description: Set through the API\n"
        "  labels:\n    team: search\n    tier: '1'\n# the end\n"
    )
    assert (tmp_path / "api.yml").read_text() == written
    # The file says what the server holds: the stored text plus the metadata written into it, nothing else.
    assert stackyard("diff", "-f", tmp_path).exit_code == 0
    assert outcomes(stackyard("apply", "-f", tmp_path).stdout) == [["unchanged", "api"]]
    got = yard.get_pipeline("api")
    assert (got.revision, got.yaml) == (1, text)
    # A change beside the written metadata is a change like any other.
    (tmp_path / "api.yml").write_text(written.replace("Hi {{ name }}", "Hello {{ name }}"))
    assert stackyard("diff", "-f", tmp_path).exit_code == 1
    assert outcomes(stackyard("apply", "-f", tmp_path).stdout) == [["updated", "api"]]
    assert yard.get_pipeline("api").revision == 2


def test_diff_of_a_folder_in_sync_exits_0(stackyard: Stackyard, yard: Client, tmp_path: Path) -> None:
    yard.put_pipeline("greet", prompt_yaml(), description="Greets")
    stackyard("export", tmp_path)
    stackyard("apply", "-f", tmp_path)
    result = stackyard("diff", "-f", tmp_path)
    assert (result.exit_code, result.stdout, result.stderr.strip()) == (0, "", "in sync: 1 unchanged")
    report = json.loads(stackyard("diff", "-f", tmp_path, "-o", "json").stdout)
    assert report == {"in_sync": True, "created": [], "changed": [], "missing": [], "unchanged": ["greet"]}


def test_diff_after_a_change_on_the_server_exits_1_with_the_yaml_description_and_labels_diffs(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    yard.put_pipeline("greet", prompt_yaml(), description="Greets", labels={"team": "docs"})
    yard.put_pipeline("same", prompt_yaml())
    stackyard("export", tmp_path)
    stackyard("apply", "-f", tmp_path)
    yard.put_pipeline("greet", prompt_yaml("Howdy {{ name }}"), description="Greets loudly", labels={"team": "ops"})
    result = stackyard("diff", "-f", tmp_path)
    assert result.exit_code == 1
    assert outcomes(result.stdout) == [["changed", "greet"]]
    assert '-      template: "Howdy {{ name }}"' in result.stdout  # the server's side is the old one
    assert '+      template: "Hello {{ name }}"' in result.stdout
    assert 'description: "Greets loudly" -> "Greets"' in result.stdout
    assert "labels: team=ops -> team=docs" in result.stdout
    assert "1 changed, 1 unchanged: the files and the server differ" in result.stderr
    report = json.loads(stackyard("diff", "-f", tmp_path, "-o", "json").stdout)
    (changed,) = report["changed"]
    assert (report["in_sync"], changed["name"], changed["file"]) == (False, "greet", str(tmp_path / "greet.yml"))
    assert changed["description"] == {"server": "Greets loudly", "folder": "Greets"}
    assert changed["labels"] == {"server": {"team": "ops"}, "folder": {"team": "docs"}}
    assert '+      template: "Hello {{ name }}"' in changed["yaml_diff"]
    assert yard.get_pipeline("greet").description == "Greets loudly"  # a diff changes nothing


def test_diff_shows_a_new_file_as_created_and_a_pipeline_without_a_file_as_missing(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    yard.put_pipeline("kept", prompt_yaml())
    yard.put_pipeline("gone", prompt_yaml())
    stackyard("export", tmp_path)
    (tmp_path / "gone.yml").unlink()
    (tmp_path / "new.yml").write_text(prompt_yaml("New {{ name }}"))
    result = stackyard("diff", "-f", tmp_path)
    assert result.exit_code == 1
    assert outcomes(result.stdout) == [["created", "new"], ["missing", "gone"]]
    assert "1 created, 1 missing, 1 unchanged" in result.stderr
    report = json.loads(stackyard("diff", "-f", tmp_path, "-o", "json").stdout)
    assert report["created"] == [{"name": "new", "file": str(tmp_path / "new.yml")}]
    assert (report["missing"], report["unchanged"]) == (["gone"], ["kept"])
    assert [p.name for p in yard.list_pipelines()] == ["gone", "kept"]


def test_diff_of_files_that_cannot_be_read_or_deployed_or_of_no_server_exits_2(
    stackyard: Stackyard, tmp_path: Path
) -> None:
    (tmp_path / "Bad Name.yml").write_text(prompt_yaml())
    named = stackyard("diff", "-f", tmp_path)
    assert named.exit_code == 2
    assert "is not a valid pipeline name" in named.stderr
    (tmp_path / "Bad Name.yml").unlink()
    (tmp_path / "broken.yml").write_text("components:\n  a: [1\n")
    broken = stackyard("diff", "-f", tmp_path)
    assert broken.exit_code == 2
    assert "- broken line 3: The YAML cannot be parsed" in broken.stderr
    assert stackyard("diff", "-f", tmp_path / "nowhere").exit_code == 2
    unreachable = stackyard("diff", "-f", tmp_path, "--server", "http://127.0.0.1:9")
    assert unreachable.exit_code == 2
    assert "Traceback" not in broken.output + unreachable.output


def test_diff_takes_a_name_or_files_but_not_both(stackyard: Stackyard, tmp_path: Path) -> None:
    both = stackyard("diff", "greet", "-f", tmp_path)
    assert both.exit_code == 2
    assert "not both" in both.output
    neither = stackyard("diff")
    assert neither.exit_code == 2
    assert "-f FOLDER" in neither.output


def test_export_refuses_to_overwrite_a_differing_file_unless_forced(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    yard.put_pipeline("other", prompt_yaml())
    edited = prompt_yaml("Edited in the folder {{ name }}")
    (tmp_path / "greet.yml").write_text(edited)
    refused = stackyard("export", tmp_path)
    assert refused.exit_code == 1
    assert f"{tmp_path / 'greet.yml'} differs from pipeline 'greet'" in refused.stderr
    assert "nothing was written" in refused.stderr
    assert (tmp_path / "greet.yml").read_text() == edited
    assert not (tmp_path / "other.yml").exists()
    forced = stackyard("export", tmp_path, "--force")
    assert forced.exit_code == 0
    assert (tmp_path / "greet.yml").read_text() == prompt_yaml()
    assert (tmp_path / "other.yml").read_text() == prompt_yaml()


def test_export_writes_a_pipeline_into_the_file_that_already_defines_it(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    text = prompt_yaml() + "metadata:\n  name: greet\n"
    (tmp_path / "hello.yaml").write_text(text)
    yard.put_pipeline("greet", text, description="Greets")
    assert stackyard("export", tmp_path, "--force").exit_code == 0
    assert [path.name for path in tmp_path.iterdir()] == ["hello.yaml"]
    assert (tmp_path / "hello.yaml").read_text() == text + "  description: Greets\n"


def test_export_leaves_files_of_pipelines_the_server_lacks_unless_pruning(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    (tmp_path / "old.yml").write_text(prompt_yaml())
    (tmp_path / "notes.txt").write_text("not a definition")
    kept = stackyard("export", tmp_path)
    assert ["stray", "old"] in outcomes(kept.stdout)
    assert (tmp_path / "old.yml").exists()
    pruned = stackyard("export", tmp_path, "--prune", "-o", "json")
    assert json.loads(pruned.stdout)["deleted"] == [str(tmp_path / "old.yml")]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["greet.yml", "notes.txt"]


def test_export_of_an_empty_server_writes_nothing(stackyard: Stackyard, tmp_path: Path) -> None:
    result = stackyard("export", tmp_path / "new")
    assert (result.exit_code, result.stdout) == (0, "")
    assert list((tmp_path / "new").iterdir()) == []
