"""The SQLite store on a disk that fills up or cannot be written: each write it cannot take answers a problem that
names the file and the cause, at once; serving goes on; once space returns nothing half-written remains.

The disks are small tmpfs mounts (mounting needs root, which the test machine and CI have)."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import BinaryIO

import pytest
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.errors import StoreReadOnly
from stackyard.settings import Settings
from stackyard.store import Change
from stackyard.store.sqlite import SQLiteStore, store_failure
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}
# Large enough that its revision needs fresh pages in the write-ahead log, whatever sliver of space is left.
BIG = prompt_yaml("v2 " + "padding " * 4000 + "{{ name }}")


def mount(folder: Path, *options: str) -> None:
    subprocess.run(["mount", "-o", ",".join(options), "-t", "tmpfs", "tmpfs", str(folder)], check=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the test machine and CI run as root)")
    folder = tmp_path / "disk"
    folder.mkdir()
    mount(folder, "size=2m")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)  # never leave a mount behind
            raise AssertionError(f"{folder} was still in use: something kept a store file open")


def fill(disk: Path) -> Path:
    """Write a file until the disk has no byte left; answer it (delete it to free the space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (4096, 1):  # whole blocks, then the last partial one
            with pytest.raises(OSError, match="No space left") as full:
                write_forever(out, b"\0" * size)
            assert full.value.errno == errno.ENOSPC
    return filler


def write_forever(out: BinaryIO, chunk: bytes) -> None:
    while True:
        out.write(chunk)


def test_a_full_disk_answers_store_full_at_once_serving_goes_on_and_nothing_half_written_remains(disk: Path) -> None:
    database = disk / "yard.db"
    settings = Settings(store_url=f"sqlite:///{database}", extra_allowed_modules=["tests.components"])
    with TestClient(create_app(settings)) as client:
        assert client.put("/pipelines/greet", content=prompt_yaml("v1 {{ name }}"), headers=YAML).status_code == 201
        filler = fill(disk)

        started = time.monotonic()
        refused = client.put("/pipelines/greet", content=BIG, headers=YAML)
        took = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["Retry-After"]) > 0
        problem = refused.json()
        assert problem["type"].endswith("/store-full")
        assert str(database) in problem["detail"]
        assert "full" in problem["detail"]
        assert took < 1.0

        # Serving goes on, from the revision that was live, and this process still confirms it is converged.
        answer = client.post("/pipelines/greet/run", json={"data": {"name": "Ada"}})
        assert (answer.status_code, answer.json()["revision"]) == (200, 1)
        assert client.get("/pipelines/greet").json()["live_revision"] == 1
        assert client.get("/readyz").status_code == 200

        filler.unlink()
        accepted = client.put("/pipelines/greet", content=BIG, headers=YAML)
        assert (accepted.status_code, accepted.json()["live_revision"]) == (200, 2)
        assert accepted.headers["X-Stackyard-Generation"] == "2"  # the refused write took no generation
        revisions = client.get("/pipelines/greet/revisions").json()
        assert [r["number"] for r in revisions["revisions"]] == [2, 1]
        audit = client.get("/audit", params={"pipeline": "greet"}).json()["entries"]
        assert sorted(e["to_revision"] for e in audit if e["outcome"] == "ok") == [1, 2]
        with closing(sqlite3.connect(database)) as check:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert check.execute("SELECT count(*) FROM revisions").fetchone() == (2,)


@pytest.fixture
def read_only_disk(disk: Path) -> Path:
    """The tmpfs with a store in it, remounted read-only (root passes permission checks, not a read-only mount)."""
    store = SQLiteStore(disk / "yard.db")
    store.open()
    store.put(Change("greet", "yaml: 1"))
    store.close()
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    return disk  # `disk` unmounts it


@pytest.mark.parametrize(
    "where",
    [
        "yard.db",  # an existing store: SQLite cannot make its -wal and -shm files beside it
        "new.db",  # a new store in a read-only folder
        "sub/new.db",  # a new store whose folder cannot be created
    ],
)
def test_a_read_only_store_folder_fails_start_up_naming_the_file(read_only_disk: Path, where: str) -> None:
    path = read_only_disk / where
    with pytest.raises(StoreReadOnly) as raised:
        SQLiteStore(path).open()
    assert str(path if path.parent.exists() else path.parent) in raised.value.detail
    assert "\n" not in str(raised.value)
    assert raised.value.status == 503


def test_a_write_to_a_read_only_database_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "yard.db"
    store = SQLiteStore(path)
    store.open()
    store.close()
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn, pytest.raises(sqlite3.Error) as raised:
        conn.execute("INSERT INTO counters (name, value) VALUES ('x', 1)")
    failure = store_failure(raised.value, path)
    assert isinstance(failure, StoreReadOnly)
    assert str(path) in failure.detail
