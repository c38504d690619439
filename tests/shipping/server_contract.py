"""What the deployment files must agree with: the variables the server and the client read, and how long the server
takes to stop.

A misspelt `STACKYARD_*` name is not an error to the server (an unknown variable is ignored), so the deployment
files are held to the names the server and the client really read.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

from stackyard import startup
from stackyard.client.connection import TOKEN_VARIABLE, URL_VARIABLE
from stackyard.settings import Settings

PREFIX = "STACKYARD_"
CLIENT_VARIABLES = frozenset({TOKEN_VARIABLE, URL_VARIABLE})


def server_variables() -> frozenset[str]:
    """Each setting's variable: `STACKYARD_` and the field's name, or the field's own alias."""
    names = set()
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        names.add(alias if isinstance(alias, str) else f"{PREFIX}{field.upper()}")
    return frozenset(names)


def unknown(names: Any, known: frozenset[str]) -> list[str]:
    """The `STACKYARD_*` names among `names` that nothing reads."""
    return sorted(name for name in names if name.startswith(PREFIX) and name not in known)


_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def interpolate(value: object, environ: Mapping[str, str]) -> str:
    """A Compose value with `${NAME}` and `${NAME:-default}` filled in from `environ` (the forms compose.yaml uses)."""
    text = str(value)
    if "$" in _REFERENCE.sub("", text):
        raise ValueError(f"{text!r}: only ${{NAME}} and ${{NAME:-default}} are interpolated here")
    return _REFERENCE.sub(lambda found: environ.get(found["name"]) or found["default"] or "", text)


def graceful_shutdown_seconds() -> int:
    """Seconds uvicorn waits for requests in flight after SIGTERM, as `startup.run` configures it."""
    found = re.search(r"timeout_graceful_shutdown=(\d+)", inspect.getsource(startup.run))
    if found is None:
        raise AssertionError("startup.run no longer sets timeout_graceful_shutdown: update the deployment files")
    return int(found[1])
