"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from stackyard.api.dependencies import State

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Start-up sync is done and the process serves what the store holds", response_model=None)
async def readyz(state: State) -> JSONResponse:
    # Readiness never depends on one pipeline building: a broken pipeline must not take the others out of service.
    sync = state.sync
    if not sync.ready.is_set():
        return JSONResponse({"status": "starting"}, status_code=503)
    if sync.unconfirmed is not None:
        # It may serve an older revision than the store holds and cannot tell: a load balancer should send runs to
        # the replicas that can, and `?wait=all` counts it as not converged.
        body = {"status": "unconfirmed", "reason": sync.unconfirmed, "generation": sync.applied_generation}
        return JSONResponse(body, status_code=200 if state.settings.ready_without_store else 503)
    return JSONResponse({"status": "ready", "generation": sync.applied_generation})
