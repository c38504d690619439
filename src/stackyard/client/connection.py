"""Where the server is and how to authenticate: defaults shared by the clients and the command line."""

from __future__ import annotations

import os

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 120.0  # a deploy builds and warms up pipelines before it answers
URL_VARIABLE = "STACKYARD_URL"
TOKEN_VARIABLE = "STACKYARD_TOKEN"  # noqa: S105 (the name of a variable, not a secret)


def base_url(url: str | None = None) -> str:
    """The server's URL: the one given, else `STACKYARD_URL`, else the local default; a bare host gets http://."""
    chosen = (url or os.environ.get(URL_VARIABLE) or DEFAULT_URL).strip().rstrip("/")
    return chosen if "://" in chosen else f"http://{chosen}"


def default_token() -> str | None:
    return os.environ.get(TOKEN_VARIABLE) or None
