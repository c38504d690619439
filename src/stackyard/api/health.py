"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from stackyard.api.state import State

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Start-up sync is done and the process can serve", response_model=None)
async def readyz(state: State) -> JSONResponse:
    # Readiness never depends on one pipeline building: a broken pipeline must not take the others out of service.
    if not state.sync.ready.is_set():
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ready", "generation": state.sync.applied_generation})
