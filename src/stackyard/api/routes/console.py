"""The web console: static files under /ui that call the same REST API as every other client.

The files hold no data, so they are served without a token; every call the page makes carries the token the user
typed, and goes through the same access control as curl would.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/ui/")


def mount_console(app: FastAPI) -> None:
    app.mount("/ui", StaticFiles(directory=str(files("stackyard") / "ui"), html=True), name="ui")
