"""list, get, delete, history, diff and rollback against a real server, as tables and as JSON."""

from __future__ import annotations

import json

from stackyard.client import Client
from tests.commands.conftest import Stackyard
from tests.yamls import prompt_yaml


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_list_prints_a_table_and_json(stackyard: Stackyard, yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml(), labels={"team": "docs"})
    table = stackyard("list")
    assert table.exit_code == 0
    assert rows(table.stdout)[0][:5] == ["NAME", "REVISION", "LIVE", "STATE", "ENABLED"]
    assert rows(table.stdout)[1][0] == "greet"
    assert "team=docs" in table.stdout
    listed = json.loads(stackyard("list", "-o", "json").stdout)
    assert [(p["name"], p["state"], p["labels"]) for p in listed] == [("greet", "serving", {"team": "docs"})]


def test_list_of_an_empty_server_says_so(stackyard: Stackyard) -> None:
    result = stackyard("list")
    assert (result.exit_code, result.stdout, result.stderr.strip()) == (0, "", "No pipelines.")
    assert json.loads(stackyard("list", "-o", "json").stdout) == []


def test_get_prints_the_yaml_as_sent_or_json(stackyard: Stackyard, yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    assert stackyard("get", "greet").stdout == prompt_yaml()
    detail = json.loads(stackyard("get", "greet", "-o", "json").stdout)
    assert (detail["name"], detail["yaml"]) == ("greet", prompt_yaml())


def test_a_missing_pipeline_prints_the_servers_problem_not_a_traceback(stackyard: Stackyard) -> None:
    result = stackyard("get", "ghost")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: No such pipeline (404)",
        "  There is no pipeline named 'ghost'. List them with GET /pipelines.",
    ]


def test_history_diff_and_rollback(stackyard: Stackyard, yard: Client) -> None:
    # a name no other test uses: history outlives a delete, and the server lives for the whole module
    first = yard.put_pipeline("storied", prompt_yaml(), message="first").revision
    second = yard.put_pipeline("storied", prompt_yaml("Hi {{ name }}"), message="second").revision
    history = stackyard("history", "storied")
    assert [row[0] for row in rows(history.stdout)[1:]] == [str(second), str(first)]
    assert "second" in rows(history.stdout)[1]
    assert [r["number"] for r in json.loads(stackyard("history", "storied", "-o", "json").stdout)["revisions"]] == [
        second,
        first,
    ]
    diff = stackyard("diff", "storied")
    assert '+      template: "Hi {{ name }}"' in diff.stdout
    assert (
        json.loads(stackyard("diff", "storied", str(first), str(second), "-o", "json").stdout)["to_revision"] == second
    )
    rolled = stackyard("rollback", "storied", str(first), "-m", "bad greeting")
    assert rolled.exit_code == 0
    assert f"revision {first} is live again as revision {second + 1}" in rolled.stdout
    assert yard.get_yaml("storied") == prompt_yaml()
    assert yard.revisions("storied").revisions[0].message == "bad greeting"


def test_rollback_to_a_missing_revision_exits_non_zero(stackyard: Stackyard, yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    result = stackyard("rollback", "greet", "999")
    assert result.exit_code == 1
    assert "Error: No such revision (404)" in result.stderr


def test_delete_removes_the_pipeline(stackyard: Stackyard, yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    assert stackyard("delete", "greet").exit_code == 0
    assert yard.list_pipelines() == []
    assert stackyard("delete", "greet").exit_code == 1
