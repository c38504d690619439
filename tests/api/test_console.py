"""The web console: static files served without a token; the API calls it makes still need one."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from stackyard.tokens import create_token


def test_the_root_leads_to_the_console_page_and_its_assets(client: TestClient) -> None:
    root = client.get("/", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (307, "/ui/")
    page = client.get("/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/ui/app.js">' in page.text
    assert client.get("/ui/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/app.css").status_code == 200
    assert client.get("/ui/missing.js").status_code == 404


def test_the_console_is_public_but_the_data_it_shows_is_not(tmp_path: Path) -> None:
    token, line = create_token("viewer", "read")
    with TestClient(create_app(Settings(store_url=f"sqlite:///{tmp_path}/y.db", tokens=[line]))) as client:
        assert client.get("/ui/").status_code == 200
        assert client.get("/pipelines").status_code == 401
        assert client.get("/pipelines", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_console_is_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not any(path.startswith("/ui") for path in paths)
