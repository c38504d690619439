"""Who may call what: bearer tokens checked against one table of route -> scope, before any handler runs.

One central table (rather than a dependency on each route) means a route added later is covered by the default:
reads of feedback need `feedback`, other reads need `read`, runs need `run`, anything else needs `admin`. It is
plain ASGI middleware so the run path pays for one dict lookup and one hash, not for a middleware stack. The same
table writes each operation's scope into the OpenAPI document (`document_scopes`), so the two cannot disagree.
"""

from __future__ import annotations

import logging
import re
from ipaddress import ip_address
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from stackyard.api.problems import problem_response
from stackyard.errors import Forbidden, InsecureOpenMode, StackyardError, Unauthorized
from stackyard.settings import Settings
from stackyard.tokens import Token, TokenScope, find_token

log = logging.getLogger(__name__)

PUBLIC = frozenset({"/healthz", "/readyz", "/metrics", "/health"})
# Pages and files that hold no data: the console, the API docs and the OpenAPI document they read. A browser opening
# them sends no token; the console's API calls carry the one its user typed.
PUBLIC_PAGES = frozenset({"/", "/ui", "/docs", "/redoc", "/openapi.json"})
PUBLIC_FOLDERS = ("/ui/", "/docs/")
_RUN_ROUTE = re.compile(r"^/pipelines/(?P<name>[^/]+)/(run|files|feedback|documents/search|documents/count)$")
_LEGACY_RUN_ROUTES = frozenset({"/query", "/file-upload", "/documents/get_by_filters", "/feedback"})
_ADMIN_READS = frozenset({"/audit"})
# Any valid token may read what it may do (`api/routes/identity.py`).
_ANY_SCOPE = frozenset({"/whoami"})
# Routes that reach many pipelines and check each one themselves (`api/mcp_server.py`: the tools a token sees
# and calls; `api/routes/openai.py`: the models): any token holding `run`, limited to some pipelines or not,
# gets in; the route applies the limit.
_RUNS_CHECKED_INSIDE = frozenset({"/mcp", "/v1/models", "/v1/chat/completions"})
# Every read below a pipeline's feedback, so a read of one verdict added later is covered too; the summary is
# counts per revision, with no text, and stays with `read` for dashboards.
_FEEDBACK_READ = re.compile(r"^/pipelines/[^/]+/feedback(/.*)?$")
_FEEDBACK_COUNTS = re.compile(r"^/pipelines/[^/]+/feedback/summary$")
_LEGACY_FEEDBACK_READS = frozenset({"/feedback", "/export-feedback"})


def required(method: str, path: str) -> tuple[TokenScope | None, str | None]:
    """The scope a request needs (None: public) and the pipeline it concerns, if any.

    Example:
        >>> required("GET", "/pipelines/faq/feedback")
        (<TokenScope.FEEDBACK: 'feedback'>, None)
    """
    if path in PUBLIC or (method == "GET" and (path in PUBLIC_PAGES or path.startswith(PUBLIC_FOLDERS))):
        return None, None
    if path in _RUNS_CHECKED_INSIDE:
        return TokenScope.RUN, None
    if reads_feedback(method, path):
        return TokenScope.FEEDBACK, None
    if method in ("GET", "HEAD"):
        return (TokenScope.ADMIN if path in _ADMIN_READS else TokenScope.READ), None
    match = _RUN_ROUTE.match(path)
    if method == "POST" and match:
        return TokenScope.RUN, match.group("name")
    if method == "POST" and path in _LEGACY_RUN_ROUTES:
        return TokenScope.RUN, None
    return TokenScope.ADMIN, None


def reads_feedback(method: str, path: str) -> bool:
    """Whether a request reads feedback: what users asked, the answers they got, the documents they judged.

    1.x `POST /eval-feedback` answers only accuracies, but its filters match label fields (the query, the answer):
    a caller could learn the text by guessing it, so it is a read of feedback too.
    """
    if method in ("GET", "HEAD"):
        if path in _LEGACY_FEEDBACK_READS:
            return True
        return _FEEDBACK_READ.match(path) is not None and _FEEDBACK_COUNTS.match(path) is None
    return method == "POST" and path == "/eval-feedback"


def document_scopes(schema: dict[str, Any]) -> dict[str, Any]:
    """Name on each operation of an OpenAPI document the scope `required` asks for it, as `x-required-scope`
    (`none`: public), and say it in the operation's description, which the API docs pages show."""
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            # A path template goes through the table as a request path would: `{name}` stands for a pipeline name.
            scope, pipeline = required(method.upper(), path)
            operation["x-required-scope"] = "any" if path in _ANY_SCOPE else str(scope) if scope else "none"
            if path in _RUNS_CHECKED_INSIDE:
                said = _RUN_SAID[True]
            elif path in _ANY_SCOPE:
                said = "Scope: any valid token."
            else:
                said = _SAID[scope] if scope is not TokenScope.RUN else _RUN_SAID[pipeline is not None]
            operation["description"] = f"{operation.get('description', '')}\n\n{said}".strip()
    return schema


_SAID: dict[TokenScope | None, str] = {
    None: "Public: needs no token.",
    TokenScope.READ: "Scope: `read` (or `admin`).",
    TokenScope.FEEDBACK: "Scope: `feedback` (or `admin`): feedback holds what users asked and were answered.",
    TokenScope.ADMIN: "Scope: `admin`.",
}
_RUN_SAID = {
    True: "Scope: `run` (or `admin`); a `run@PATTERN` token only on pipelines matching PATTERN.",
    False: "Scope: `run` without a pattern (or `admin`): the path names no pipeline a `run@PATTERN` token could match.",
}


_NOT_OPEN_ON_NETWORK = frozenset({TokenScope.ADMIN, TokenScope.FEEDBACK})


def open_mode_scopes(settings: Settings) -> list[TokenScope]:
    """What a caller may do when no tokens are configured: everything on loopback (or where the operator allowed
    it), else all but the scopes `AccessControl` refuses beyond loopback."""
    if not refuses_open_on_network(settings):
        return [TokenScope.ADMIN]
    return sorted(set(TokenScope) - _NOT_OPEN_ON_NETWORK)


def refuses_open_on_network(settings: Settings) -> bool:
    """Whether open mode serves beyond loopback without the operator's leave (`STACKYARD_ALLOW_INSECURE`): then
    management and feedback reads are refused."""
    return not is_loopback(settings.host) and not settings.allow_insecure


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class AccessControl:
    """ASGI middleware: 401 without a valid token, 403 without the scope; sets `request.state.actor`."""

    def __init__(self, app: ASGIApp, tokens: tuple[Token, ...], refuse_open_on_network: bool) -> None:
        self.app = app
        self.tokens = tokens
        # Open development mode on a non-loopback address: management, and what users asked, would be open to the
        # network.
        self.refuse_open_on_network = refuse_open_on_network

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        need, pipeline = required(scope["method"], path)
        if need is None:
            await self.app(scope, receive, send)
            return
        refusal = self._check(scope, need, pipeline, inside=path in _RUNS_CHECKED_INSIDE, any_scope=path in _ANY_SCOPE)
        if refusal is not None:
            await problem_response(refusal, path)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check(
        self, scope: Scope, need: TokenScope, pipeline: str | None, inside: bool, any_scope: bool
    ) -> StackyardError | None:
        if not self.tokens:
            if need in _NOT_OPEN_ON_NETWORK and self.refuse_open_on_network:
                return InsecureOpenMode(
                    "No tokens are configured and the server listens beyond loopback. Configure tokens "
                    "(stackyard token create) or set STACKYARD_ALLOW_INSECURE=true."
                )
            return None
        presented = _bearer(scope)
        token = find_token(self.tokens, presented) if presented else None
        if token is None:
            detail = "Send 'Authorization: Bearer <token>'." if not presented else "The token is not valid."
            return Unauthorized(detail)
        # Inside: the scope held on some pipelines is enough to come in (the route limits it to them).
        if not (any_scope or token.allows(need, pipeline) or (inside and need in token.scopes)):
            target = f" on pipeline '{pipeline}'" if pipeline else ""
            return Forbidden(f"Token '{token.name}' lacks the '{need}' scope{target}.")
        state = scope.setdefault("state", {})
        state["actor"] = token.name
        state["token"] = token  # for routes that check pipelines themselves (`_RUNS_CHECKED_INSIDE`)
        return None


def _bearer(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, credentials = header.partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
            return None
    return None
