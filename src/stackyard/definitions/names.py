"""Pipeline names: what a name may look like, checked once where a name enters the server."""

from __future__ import annotations

import re

from stackyard.errors import InvalidPipelineName

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_NAME = re.compile(NAME_PATTERN)


def check_name(name: str) -> str:
    """Return `name` if it may name a pipeline, else raise `InvalidPipelineName`.

    Example:
        >>> check_name("faq-search")
        'faq-search'
    """
    if not _NAME.fullmatch(name):
        shown = name if len(name) <= 70 else name[:70] + "…"
        raise InvalidPipelineName(
            f"{shown!r} is not a valid pipeline name: use 1 to 63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit.",
            pattern=NAME_PATTERN,
        )
    return name
