"""Real replicas on PostgreSQL while the store goes away and comes back: for one replica (its role is cut off while
the others reach the database), and for all of them (the database refuses every connection).

A replica that lost the store keeps serving what it has, reports itself not ready with the reason, and stays in
the set a `?wait=all` change waits for; writes answer 503 naming host and port after the store's half-second wait
for a connection, not after libpq's connect timeout or the pool's backoff; once the store is back every replica
takes writes and serves the newest revision within a few seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.postgres import (
    as_role,
    database_cut_off,
    fresh_database,
    fresh_role,
    needs_postgres,
    role_cut_off,
)
from tests.process.convergence import eventually
from tests.process.server import Server, started
from tests.process.test_replicas import is_ready, put, run, serves, version_yaml

pytestmark = [pytest.mark.process, pytest.mark.postgres, needs_postgres]

# Replicas that stop beating are no longer listed after 2 s, so a wait of 4 s outlasts the listing of a silent one.
QUICK = {"STACKYARD_REPLICA_TIMEOUT": "2", "STACKYARD_HEARTBEAT_INTERVAL": "0.5"}
RECOVERY = 4.0  # seconds every replica has, once the store is back, to take writes and serve the newest revision
# Seconds a write may take to be refused during an outage. The store waits half a second for a connection; the rest
# is slack for a loaded test machine (two test processes, four servers and their workers on two cores). Failing
# slow meant libpq's 5 s connect timeout or the pool's 30 s wait, both well above it.
REFUSED_WITHIN = 2.0


def readiness(server: Server) -> httpx.Response:
    return httpx.get(f"{server.url}/readyz", timeout=5)


def unconfirmed(server: Server) -> bool:
    return readiness(server).status_code == 503


@dataclass
class Pair:
    """Two replicas on a database of their own; the second connects as a role of its own, so it can be cut off
    alone (`role_cut_off`) as well as with the other (`database_cut_off`)."""

    reaching: Server
    second: Server
    role: str
    database: str


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    # The role outlives the database: whatever it made there goes with the database before the role is dropped.
    with (
        fresh_role() as role,
        fresh_database() as (database, url),
        started(tmp_path, ("--store", url), ("--store", as_role(url, role)), env=QUICK) as (first, second),
    ):
        yield Pair(first, second, role, database)


def test_a_replica_that_lost_the_store_is_not_ready_and_keeps_a_wait_all_change_incomplete(pair: Pair) -> None:
    reaching, lost, role = pair.reaching, pair.second, pair.role
    assert put(reaching, "greet", version_yaml(1), "?wait=all").status_code == 201
    with role_cut_off(role):
        # Its heartbeats stop; after 2 s it is no longer listed, but this change must still wait for it.
        answer = put(reaching, "greet", version_yaml(2), "?wait=all&timeout=4")
        assert answer.status_code == 202, answer.text
        rollout = answer.json()
        assert rollout["complete"] is False
        [silent] = [row for row in rollout["replicas"] if row["silent"]]
        assert (silent["applied"], silent["live_revision"], silent["state"]) == (False, 1, "pending")
        assert [row["applied"] for row in rollout["replicas"] if not row["silent"]] == [True]

        eventually(lambda: unconfirmed(lost), "the cut-off replica reports itself not ready", deadline=10)
        body = readiness(lost).json()
        assert (body["status"], body["generation"]) == ("unconfirmed", 1)
        assert "127.0.0.1:5432" in body["reason"]
        assert readiness(reaching).status_code == 200
        # Serving goes on where the store cannot be reached, from the revision it has.
        assert run(lost, "greet").json()["revision"] == 1
    back = time.monotonic()
    eventually(serves(lost, "greet", 2), "the replica catches up", deadline=RECOVERY)
    eventually(is_ready(lost), "the replica is ready again", deadline=RECOVERY)
    assert time.monotonic() - back < RECOVERY
    assert put(lost, "greet", version_yaml(3), "?wait=all&timeout=5").status_code == 200


def test_writes_fail_fast_during_an_outage_and_every_replica_recovers_within_seconds(pair: Pair) -> None:
    first, second, database = pair.reaching, pair.second, pair.database
    assert put(first, "greet", version_yaml(1), "?wait=all").status_code == 201
    with database_cut_off(database):
        cut = time.monotonic()
        for server in (first, second):
            sent = time.monotonic()
            refused = put(server, "greet", version_yaml(2))
            assert time.monotonic() - sent < REFUSED_WITHIN
            assert refused.status_code == 503
            assert refused.json()["type"].endswith("/store-unavailable")
            assert "127.0.0.1:5432" in refused.json()["detail"]
            assert int(refused.headers["Retry-After"]) > 0
            assert run(server, "greet").json()["revision"] == 1
        for server in (first, second):
            eventually(partial(unconfirmed, server), f"{server.url} reports itself not ready")
        # Long enough for the pool's old doubling backoff (1, 2, 4 s) to have left it idle for seconds after.
        while time.monotonic() - cut < 5:
            assert put(first, "greet", version_yaml(2)).status_code == 503
    back = time.monotonic()
    eventually(lambda: put(second, "greet", version_yaml(2)).status_code == 200, "a write is taken", deadline=RECOVERY)
    for server in (first, second):
        eventually(serves(server, "greet", 2), f"{server.url} serves revision 2", deadline=RECOVERY)
        eventually(is_ready(server), f"{server.url} is ready", deadline=RECOVERY)
    assert time.monotonic() - back < RECOVERY
