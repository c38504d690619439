"""`GET /whoami`: the token a caller presented, and what it may do, so a client can offer only what is allowed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from stackyard.api.dependencies import State
from stackyard.api.middleware.access_control import open_mode_scopes
from stackyard.tokens import Token, TokenScope

router = APIRouter(tags=["tokens"])


class Identity(BaseModel):
    name: str | None = Field(description="The token's name; null when the server has no tokens configured.")
    scopes: list[TokenScope] = Field(description="What the caller may do; `admin` implies every other scope.")
    run_patterns: list[str] = Field(description="The pipelines a `run@PATTERN` token may run; empty: all of them.")
    tokens_required: bool = Field(description="Whether the server asks every API call for a token.")


@router.get(
    "/whoami",
    summary="The caller's token name and scopes",
    description="Any valid token may read its own scopes.",
    response_model=Identity,
)
async def whoami(request: Request, state: State) -> Identity:
    token: Token | None = getattr(request.state, "token", None)
    if token is not None:
        scopes = [TokenScope.ADMIN] if TokenScope.ADMIN in token.scopes else sorted(token.scopes)
        return Identity(name=token.name, scopes=scopes, run_patterns=list(token.run_patterns), tokens_required=True)
    # No tokens configured: open mode, as access control applies it.
    return Identity(name=None, scopes=open_mode_scopes(state.settings), run_patterns=[], tokens_required=False)
