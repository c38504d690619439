"""Readiness while the store cannot be read: not ready by default, ready on request (STACKYARD_READY_WITHOUT_STORE)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.conftest import yard
from tests.postgres import database_cut_off, fresh_database, needs_postgres
from tests.waiting import wait_until

pytestmark = needs_postgres


@pytest.mark.parametrize(("ready_without_store", "status"), [(False, 503), (True, 200)])
def test_readyz_during_a_store_outage_says_unconfirmed(ready_without_store: bool, status: int) -> None:
    with fresh_database() as (database, url):
        settings = Settings(store_url=url, sync_interval=0.05, ready_without_store=ready_without_store)
        app = create_app(settings)
        with TestClient(app) as client:
            wait_until(lambda: client.get("/readyz").json()["status"] == "ready", "the first sync is done")
            with database_cut_off(database):
                wait_until(lambda: yard(app).sync.unconfirmed is not None, "the sync notices the outage")
                answer = client.get("/readyz")
                assert (answer.status_code, answer.json()["status"]) == (status, "unconfirmed")
            wait_until(lambda: client.get("/readyz").json()["status"] == "ready", "the sync succeeds again")
