"""Bearer tokens: how they are made, stored as salted hashes, and checked.

Tokens are 256-bit random strings, so one round of salted SHA-256 is as strong as a slow password hash and keeps the
check off the request's critical path. The server keeps only `name:scopes:sha256$salt$digest` lines; a token itself
is printed once, by `stackyard token create`, and never logged.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

TOKEN_PREFIX = "sy_"  # noqa: S105 - a marker that makes leaked tokens easy to find, not a secret


class TokenScope(StrEnum):
    ADMIN = "admin"  # manage pipelines, read the audit log; implies every other scope
    RUN = "run"  # run pipelines (optionally only those matching patterns), and give feedback on their answers
    READ = "read"  # list, get, schema, status: pipelines, never what their users asked
    # Feedback holds users' queries, the answers they got and the documents they judged: readers of it are named
    # apart from `read`, which dashboards and monitors hold.
    FEEDBACK = "feedback"  # read feedback: the verdicts, their 1.x labels and SQuAD export, their accuracy


class InvalidTokenLine(ValueError):
    """A configured token line cannot be used."""


@dataclass(frozen=True)
class Token:
    """A configured token: its name, scopes and the salted hash of its secret."""

    name: str
    scopes: frozenset[TokenScope]
    run_patterns: tuple[str, ...]  # empty: every pipeline
    salt: bytes
    digest: bytes

    def matches(self, presented: str) -> bool:
        candidate = hashlib.sha256(self.salt + presented.encode()).digest()
        return hmac.compare_digest(candidate, self.digest)

    def allows(self, scope: TokenScope, pipeline: str | None = None) -> bool:
        if TokenScope.ADMIN in self.scopes:
            return True
        if scope is TokenScope.RUN and TokenScope.RUN in self.scopes:
            if not self.run_patterns:
                return True
            return pipeline is not None and any(fnmatch.fnmatchcase(pipeline, p) for p in self.run_patterns)
        return scope in self.scopes


def parse_token_line(line: str) -> Token:
    """`name:scopes:sha256$salt$digest`, scopes separated by commas; `run@pattern` limits running to names.

    Example:
        >>> parse_token_line("ci:admin:sha256$00$" + "0" * 64).name
        'ci'
    """
    try:
        name, scope_text, hashed = line.strip().split(":", 2)
        algorithm, salt_hex, digest_hex = hashed.split("$")
        salt, digest = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
    except ValueError:
        raise InvalidTokenLine("a token line must read name:scopes:sha256$salt$digest") from None
    if algorithm != "sha256" or len(digest) != 32 or not name:
        raise InvalidTokenLine(f"token {name!r}: only sha256 hashes made by `stackyard token create` are accepted")
    scopes: set[TokenScope] = set()
    patterns: list[str] = []
    for item in filter(None, (part.strip() for part in scope_text.split(","))):
        scope_name, _, pattern = item.partition("@")
        try:
            scopes.add(TokenScope(scope_name))
        except ValueError:
            known = ", ".join(TokenScope)
            raise InvalidTokenLine(f"token {name!r}: unknown scope {scope_name!r} (use {known})") from None
        if pattern:
            if scope_name != TokenScope.RUN:
                raise InvalidTokenLine(f"token {name!r}: only the run scope takes a pipeline pattern")
            patterns.append(pattern)
    if not scopes:
        raise InvalidTokenLine(f"token {name!r} has no scope")
    return Token(name, frozenset(scopes), tuple(patterns), salt, digest)


def create_token(name: str, scopes: str) -> tuple[str, str]:
    """A new random token and the line that configures it; the line is checked by parsing it back."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    line = f"{name}:{scopes}:sha256${salt.hex()}${hashlib.sha256(salt + token.encode()).hexdigest()}"
    parse_token_line(line)
    return token, line


def find_token(tokens: tuple[Token, ...], presented: str) -> Token | None:
    """The configured token the presented secret belongs to. Every hash is compared, so timing says nothing."""
    found = None
    for token in tokens:
        if token.matches(presented):
            found = token
    return found
