"""Several real server processes on one PostgreSQL: a change made through any replica is served by all of them,
after a SIGKILL and while PostgreSQL restarts too."""

from __future__ import annotations

import itertools
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.postgres import fresh_schema, needs_postgres
from tests.process.convergence import eventually, served_revision
from tests.process.server import Server, start_server, started
from tests.yamls import prompt_yaml

pytestmark = [pytest.mark.process, pytest.mark.postgres, needs_postgres]
YAML = {"Content-Type": "application/yaml"}


def version_yaml(n: int) -> str:
    return prompt_yaml(f"v{n} {{{{ name }}}}")


@pytest.fixture
def store_url() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


@pytest.fixture
def three(tmp_path: Path, store_url: str) -> Iterator[list[Server]]:
    with started(tmp_path, *[("--store", store_url)] * 3) as servers:
        yield servers


def put(server: Server, name: str, yaml: str, query: str = "") -> httpx.Response:
    with server.client() as http:
        return http.put(f"/pipelines/{name}{query}", content=yaml, headers=YAML)


def run(server: Server, name: str) -> httpx.Response:
    with server.client() as http:
        return http.post(f"/pipelines/{name}/run", json={"data": {"name": "Ada"}})


def answers(server: Server, name: str, status: int) -> Callable[[], bool]:
    """A condition for `eventually`: a run of `name` on `server` answers `status`."""
    return lambda: run(server, name).status_code == status


def serves(server: Server, name: str, revision: int) -> Callable[[], bool]:
    """A condition for `eventually`: `server` runs `name` on `revision`."""
    return lambda: served_revision(server, name) == revision


def test_a_put_and_a_delete_through_one_replica_reach_the_other_two(three: list[Server]) -> None:
    first, *others = three
    assert put(first, "greet", version_yaml(1)).status_code == 201
    for server in others:
        eventually(answers(server, "greet", 200), f"{server.url} serves greet")
        assert run(server, "greet").json()["result"] == {"prompt": {"prompt": "v1 Ada"}}
    with first.client() as http:
        assert http.delete("/pipelines/greet").status_code == 204
    for server in others:
        eventually(answers(server, "greet", 404), f"{server.url} no longer serves greet")


def test_wait_all_answers_when_every_replica_serves_the_change(three: list[Server]) -> None:
    first, second, third = three
    with first.client() as http:
        eventually(lambda: len(http.get("/replicas").json()["replicas"]) == 3, "three replicas registered")
    answer = put(second, "greet", version_yaml(1), "?wait=all&timeout=20")
    assert answer.status_code == 201, answer.text
    assert [run(server, "greet").json()["revision"] for server in three] == [1, 1, 1]
    rollout = httpx.get(f"{third.url}/pipelines/greet/rollout").json()
    assert rollout["complete"] is True
    assert sorted(r["state"] for r in rollout["replicas"]) == ["serving"] * 3


def test_fifty_updates_through_all_replicas_converge_to_one_revision(three: list[Server]) -> None:
    for n, server in zip(range(1, 51), itertools.cycle(three), strict=False):
        assert put(server, "hot", version_yaml(n)).status_code in (200, 201)
    eventually(lambda: [served_revision(s, "hot") for s in three] == [50, 50, 50], "all replicas serve revision 50")
    assert {run(server, "hot").json()["result"]["prompt"]["prompt"] for server in three} == {"v50 Ada"}


def test_a_replica_killed_and_restarted_catches_up(tmp_path: Path, store_url: str, three: list[Server]) -> None:
    first, second, victim = three
    assert put(first, "greet", version_yaml(1)).status_code == 201
    eventually(lambda: served_revision(victim, "greet") == 1, "the victim serves revision 1")
    victim.kill()
    assert put(second, "greet", version_yaml(2)).status_code == 200
    assert put(second, "other", version_yaml(1)).status_code == 201
    generation = int(put(first, "greet", version_yaml(3)).headers["X-Stackyard-Generation"])
    restarted = start_server(tmp_path, "--store", store_url)
    try:
        with restarted.client() as http:
            assert http.get("/readyz").json()["generation"] >= generation
        assert (run(restarted, "greet").json()["revision"], run(restarted, "other").status_code) == (3, 200)
    finally:
        restarted.stop()


def is_ready(server: Server) -> Callable[[], bool]:
    """A condition for `eventually`: `server`'s /readyz answers 200."""
    return lambda: httpx.get(f"{server.url}/readyz").status_code == 200


def pg_cluster(action: str) -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action], check=True, timeout=120)


def postgres_is_up() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"], check=False).returncode == 0


@pytest.mark.skipif(not Path("/etc/postgresql").is_dir(), reason="needs a local PostgreSQL cluster to restart")
def test_runs_never_fail_while_postgres_restarts_and_changes_flow_again_after(three: list[Server]) -> None:
    first, second, third = three
    assert put(first, "greet", version_yaml(1), "?wait=all").status_code == 201
    stop = threading.Event()
    answers: list[int] = []

    def keep_running(server: Server) -> None:
        with server.client() as http:
            while not stop.is_set():
                answers.append(http.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}).status_code)

    clients = [threading.Thread(target=keep_running, args=(server,)) for server in three]
    for client in clients:
        client.start()
    try:
        pg_cluster("restart")
        eventually(postgres_is_up, "PostgreSQL accepts connections again", deadline=60)
    finally:
        stop.set()
        for client in clients:
            client.join()
        if not postgres_is_up():  # leave PostgreSQL running for everything else, whatever happened here
            pg_cluster("start")
    assert answers
    assert set(answers) == {200}
    for server in three:  # ready again once a sync succeeds (not ready while the store could not be read)
        eventually(is_ready(server), f"{server.url} is ready", deadline=10)
    assert put(second, "greet", version_yaml(2)).status_code == 200
    for server in (first, third):
        eventually(serves(server, "greet", 2), f"{server.url} serves revision 2 after")
