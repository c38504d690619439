"""The API docs pages work without internet access: every asset they load is served by Stackyard itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from stackyard.tokens import create_token

_, LINE = create_token("ops", "admin")
ASSET = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url:\s*'([^']+)'""")


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[TestClient]:
    """Tokens configured: a browser opening the docs still sends none."""
    with TestClient(create_app(Settings(store_url=f"sqlite:///{tmp_path}/yard.db", tokens=[LINE]))) as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_docs_page_loads_only_local_urls_and_each_answers_without_a_token(secured: TestClient, page: str) -> None:
    answer = secured.get(page)
    assert answer.status_code == 200
    assert "http://" not in answer.text
    assert "https://" not in answer.text
    urls = {first or second for first, second in ASSET.findall(answer.text)}
    assert "/openapi.json" in urls
    assert len(urls) >= 3  # the document, a script, the icon (and Swagger UI's style sheet)
    for url in urls:
        assert url.startswith("/"), url
        assert secured.get(url).status_code == 200, url


def test_swagger_uis_sign_in_redirect_page_is_served(secured: TestClient) -> None:
    answer = secured.get("/docs/oauth2-redirect")
    assert answer.status_code == 200
    assert "oauth2" in answer.text
