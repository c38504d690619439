"""run, validate, status and replicas against a real server; the server URL from the option or the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stackyard.client import Client
from tests.commands.conftest import Stackyard
from tests.conftest import REPO
from tests.process.server import Server
from tests.yamls import BM25, prompt_yaml


def test_run_prints_the_result_as_json(stackyard: Stackyard, yard: Client, tmp_path: Path) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    answer = json.loads(stackyard("run", "greet", "--data", '{"name": "Ada"}').stdout)
    assert answer["result"] == {"prompt": {"prompt": "Hello Ada"}}
    (tmp_path / "in.json").write_text('{"name": "Bo"}')
    from_file = json.loads(stackyard("run", "greet", "--data", f"@{tmp_path / 'in.json'}").stdout)
    assert from_file["result"] == {"prompt": {"prompt": "Hello Bo"}}


def test_run_pretty_shows_documents_with_scores(stackyard: Stackyard, yard: Client) -> None:
    yard.put_pipeline("search", BM25)
    result = stackyard("run", "search", "-d", '{"query": "hay"}', "-o", "pretty")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:3] == ["search (revision 1)", "prompt.prompt", "    hay: "]


def test_run_with_inputs_that_do_not_fit_exits_non_zero_with_the_reason(stackyard: Stackyard, yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    result = stackyard("run", "greet", "-d", "{}")
    assert result.exit_code == 1
    assert "The run inputs do not fit the pipeline (422)" in result.stderr
    assert "'name'" in result.stderr
    assert stackyard("run", "greet", "-d", "[1]").exit_code == 2  # not an object: a usage error, nothing sent


def test_validate_accepts_a_good_file_and_refuses_a_bad_one(stackyard: Stackyard, tmp_path: Path) -> None:
    good = tmp_path / "greet.yml"
    good.write_text(prompt_yaml())
    checked = stackyard("validate", good, "--sample", '{"name": "x"}')
    assert checked.exit_code == 0
    assert "Hello x" in checked.stdout
    assert checked.stdout.splitlines()[-1] == f"{good}: valid"
    bad = tmp_path / "bad.yml"
    bad.write_text("components:\n  a: [1\n")
    refused = stackyard("validate", bad)
    assert refused.exit_code == 1
    assert "problem line 3 column 1: The YAML cannot be parsed" in refused.stderr
    assert json.loads(stackyard("validate", bad, "-o", "json").stdout)["valid"] is False


def test_status_prints_this_replica_and_its_pipelines(stackyard: Stackyard, yard: Client) -> None:
    yard.put_pipeline("status-greet", prompt_yaml())
    table = stackyard("status")
    assert table.exit_code == 0, table.stderr
    assert "store.kind: sqlite" in table.stdout
    assert any(line.split()[:4] == ["status-greet", "1", "1", "serving"] for line in table.stdout.splitlines())
    status = json.loads(stackyard("status", "-o", "json").stdout)
    assert status["ready"] is True
    assert {"name": "status-greet", "revision": 1, "live_revision": 1, "state": "serving", "error": None} in status[
        "pipelines"
    ]


def test_replicas_lists_the_live_replica(stackyard: Stackyard) -> None:
    status = json.loads(stackyard("status", "-o", "json").stdout)
    table = stackyard("replicas")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:2] == ["ID", "HOST"]
    listed = json.loads(stackyard("replicas", "-o", "json").stdout)
    assert status["replica"] in json.dumps(listed)


def test_an_unreachable_server_is_one_clear_line(stackyard: Stackyard) -> None:
    result = stackyard("list", "--server", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Cannot reach the Stackyard server at http://127.0.0.1:9")


def test_the_installed_command_reads_the_server_from_the_environment(server: Server, yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    env = {**os.environ, "STACKYARD_URL": server.url, "STACKYARD_TOKEN": "t0ken", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "stackyard", "list", "-o", "json"], capture_output=True, text=True, env=env, check=True
    )
    assert [p["name"] for p in json.loads(done.stdout)] == ["greet"]


def test_run_with_files_uploads_them_into_an_indexing_pipeline(
    stackyard: Stackyard, yard: Client, tmp_path: Path
) -> None:
    yard.put_pipeline("indexing", (REPO / "examples/pipelines/indexing.yml").read_text())
    first = tmp_path / "hay.txt"
    first.write_text("Hay is dried grass kept in a stackyard.")
    second = tmp_path / "notes.md"
    second.write_text("# Notes\n\nStraw is not hay.")
    answer = stackyard("run", "indexing", "--file", first, "--file", second)
    assert answer.exit_code == 0, answer.stderr
    sent = json.loads(answer.stdout)
    assert [(f["file_name"], f["documents_written"]) for f in sent["files"]] == [("hay.txt", 1), ("notes.md", 1)]
    assert sent["input"] == "files"
    pretty = stackyard("run", "indexing", "--file", first, "-o", "pretty")
    assert "hay.txt: 1 document(s) written" in pretty.stdout


def test_run_stream_prints_the_reply_as_it_comes(stackyard: Stackyard, yard: Client) -> None:
    yard.put_pipeline("chat", (REPO / "examples/pipelines/chat.yml").read_text())
    question = '{"question": "Where are haystacks kept?"}'
    streamed = stackyard("run", "chat", "--stream", "-d", question)
    assert streamed.exit_code == 0, streamed.stderr
    reply = yard.run("chat", {"question": "Where are haystacks kept?"}).result["reply"][0]["text"]
    assert streamed.stdout == reply + "\n"
    lines = [
        json.loads(line)
        for line in stackyard("run", "chat", "--stream", "-o", "json", "-d", question).stdout.splitlines()
    ]
    assert {line["event"] for line in lines[:-1]} == {"chunk"}
    assert "".join(line["data"]["content"] for line in lines[:-1]) == reply
    assert lines[-1]["event"] == "result"
    assert lines[-1]["data"]["result"]["reply"][0]["text"] == reply


def test_run_stream_problems_exit_non_zero_with_the_reason(stackyard: Stackyard, yard: Client) -> None:
    yard.put_pipeline("chat", (REPO / "examples/pipelines/chat.yml").read_text())
    missing = stackyard("run", "ghost", "--stream", "-d", "{}")
    assert missing.exit_code == 1
    assert "Error:" in missing.stderr
    assert "ghost" in missing.stderr
    wrong = stackyard("run", "chat", "--stream", "-d", "{}")
    assert wrong.exit_code == 1
    assert "The run inputs do not fit the pipeline (422)" in wrong.stderr
    assert "'question'" in wrong.stderr


def test_run_stream_of_a_pipeline_that_streams_nothing_prints_its_result(stackyard: Stackyard, yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    shown = stackyard("run", "greet", "--stream", "-d", '{"name": "Ada"}')
    assert shown.exit_code == 0, shown.stderr
    title, *outputs = shown.stdout.splitlines()
    assert title.startswith("greet (revision ")
    assert outputs == ["prompt.prompt", "    Hello Ada"]
