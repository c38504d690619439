"""JSON values as pydantic should read them from a request: exactly as JSON Schema describes them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, Strict, StringConstraints


def integral(value: object) -> object:
    """3.0 as 3: JSON Schema counts a number with no fraction as an integer; strict validation alone would not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, Strict(), BeforeValidator(integral)]
"""An integer member of a JSON body: 3 and 3.0, never "3" or true, in strict and lax models alike."""


MAX_LABELS = 64
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=63)]
LabelValue = Annotated[str, StringConstraints(max_length=256)]
Labels = Annotated[
    dict[LabelKey, LabelValue],
    Field(
        max_length=MAX_LABELS,
        description=f"At most {MAX_LABELS} labels; keys of 1 to 63 characters, values of at most 256 (as Kubernetes "
        "labels): they are served with every listing, so they stay small.",
    ),
]
"""A pipeline's labels, bounded: a few KB at most, whatever a caller sends."""
