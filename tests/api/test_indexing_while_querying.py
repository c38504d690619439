"""Indexing files while 8 clients query the same in-memory index: no query fails (the index guard at work)."""

from __future__ import annotations

import asyncio
import threading

import httpx

from tests.documents import INDEXING, QUERY, on_index, words

YAML = {"Content-Type": "application/yaml"}
CLIENTS = 8
FILES = 12


async def test_eight_clients_query_while_files_are_indexed_and_no_query_fails(aclient: httpx.AsyncClient) -> None:
    for name, yaml in (("indexing", INDEXING), ("query", QUERY)):
        answer = await aclient.put(f"/pipelines/{name}", content=on_index(yaml, "concurrent"), headers=YAML)
        assert answer.status_code == 201, answer.text
    # Enough documents that each BM25 query iterates for a while, so writes land in the middle of queries.
    seed = [("files", (f"seed{n}.txt", words(20000, f"seed{n}w").encode(), "text/plain")) for n in range(8)]
    seeded = await aclient.post("/pipelines/indexing/files", files=seed)
    assert seeded.status_code == 200
    written = [seeded.json()["documents_written"]]

    indexing_done = threading.Event()
    during: list[int] = []  # status codes of queries that started while indexing was going on
    failures: list[str] = []

    async def query(client_number: int) -> None:
        while not indexing_done.is_set():
            answer = await aclient.post("/pipelines/query/run", json={"data": {"query": f"hay seed{client_number}w3"}})
            if not indexing_done.is_set():
                during.append(answer.status_code)
            if answer.status_code != 200:
                failures.append(answer.text)

    async def index() -> None:
        try:
            for n in range(FILES):
                part = ("files", (f"new{n}.txt", words(2000, f"new{n}w").encode(), "text/plain"))
                answer = await aclient.post("/pipelines/indexing/files", files=[part])
                assert answer.status_code == 200, answer.text
                written.append(answer.json()["documents_written"])
        finally:
            indexing_done.set()

    await asyncio.gather(index(), *(query(n) for n in range(CLIENTS)))
    assert failures == []
    assert len(during) >= CLIENTS  # every client queried while files were being written
    count = await aclient.post("/pipelines/query/documents/count", json={})
    assert count.json()["count"] == sum(written)
