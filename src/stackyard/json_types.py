"""JSON values as pydantic should read them from a request: exactly as JSON Schema describes them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Strict


def integral(value: object) -> object:
    """3.0 as 3: JSON Schema counts a number with no fraction as an integer; strict validation alone would not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, Strict(), BeforeValidator(integral)]
"""An integer member of a JSON body: 3 and 3.0, never "3" or true, in strict and lax models alike."""
