"""What a request asks for beyond its body: preconditions on the live revision (If-Match, If-None-Match), a
representation (Accept), both parsed by werkzeug's RFC 9110 header parsers rather than by hand, and a wait for the
replicas (`?wait=all&timeout=S`)."""

from __future__ import annotations

from fastapi import Request
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_etags

from stackyard.errors import InvalidRequest, trim
from stackyard.store import Expectation


def expectation(request: Request) -> Expectation | None:
    """`If-Match` and `If-None-Match` as one precondition on the live revision, or None without either.

    Entity tags are revision numbers; a tag that is not one (`"abc"`) matches no revision.
    """
    if_match = request.headers.get("if-match")
    if_none_match = request.headers.get("if-none-match")
    if if_match is None and if_none_match is None:
        return None
    revisions: frozenset[int] | None = None
    exists = absent = False
    not_revisions: frozenset[int] = frozenset()
    if if_match is not None:
        tags = parse_etags(if_match)
        exists = tags.star_tag
        if not exists:
            revisions = _revisions(tags.as_set(include_weak=False), "If-Match", if_match)  # compared strongly
    if if_none_match is not None:
        tags = parse_etags(if_none_match)
        absent = tags.star_tag
        not_revisions = _revisions(tags.as_set(include_weak=True), "If-None-Match", if_none_match)  # weakly
    return Expectation(revisions=revisions, exists=exists, not_revisions=not_revisions, absent=absent)


def _revisions(tags: set[str], header: str, value: str) -> frozenset[int]:
    # Every tag this server hands out is a revision number, so any other tag is a client's mistake (a revision sent
    # unquoted, a tag from another server): say so rather than answer a 412 that no retry can cure.
    if not all(tag.isascii() and tag.isdigit() for tag in tags):
        raise InvalidRequest(f"{header} must list revision ETags such as '\"3\"', not {trim(value, 40)!r}.")
    return frozenset(int(tag) for tag in tags)


def revision_headers(revision: int) -> dict[str, str]:
    """The headers that name a pipeline's revision in an answer: its entity tag (for If-Match), and plainly, for the
    request log and for clients that would rather not parse an entity tag."""
    return {"ETag": f'"{revision}"', "X-Stackyard-Revision": str(revision)}


def preferred(request: Request, offers: list[str]) -> str:
    """The media type of `offers` that the request's `Accept` prefers (q-values, wildcards, lists); the first offer
    when it sends none or accepts none of them (RFC 9110 12.5.1 lets a server disregard an unmatched `Accept`)."""
    accept = request.headers.get("accept")
    if not accept:
        return offers[0]
    return parse_accept_header(accept, MIMEAccept).best_match(offers) or offers[0]


MAX_WAIT = 300.0
DEFAULT_WAIT = 10.0


def wait_requested(request: Request) -> float | None:
    """The timeout of `?wait=all&timeout=S` (default 10 s), or None when the caller does not wait.

    Checked before the change is made, so a malformed parameter changes nothing.
    """
    wait = request.query_params.get("wait")
    if wait is None:
        return None
    if wait != "all":
        raise InvalidRequest(f"wait={wait!r} is not supported: use wait=all (every live replica) or leave it out.")
    raw = request.query_params.get("timeout", str(DEFAULT_WAIT))
    try:
        timeout = float(raw)
    except ValueError:
        timeout = -1.0
    if not 0 <= timeout <= MAX_WAIT:
        raise InvalidRequest(f"timeout={raw!r} must be a number of seconds from 0 to {MAX_WAIT:g}.")
    return timeout
