"""Stackyard's own `schema` parameter in a PostgreSQL store URL (no server needed)."""

from __future__ import annotations

import pytest

from stackyard.store.postgres import split_url


@pytest.mark.parametrize(
    ("url", "schema"),
    [
        ("postgresql://u@h/db?schema=yard", "yard"),
        ("postgresql://u@h/db?sslmode=disable&schema=yard_2", "yard_2"),
        ("postgresql://u@h/db", None),
    ],
)
def test_the_schema_parameter_is_taken_out_of_the_libpq_url(url: str, schema: str | None) -> None:
    libpq, found = split_url(url)
    assert (found, "schema" in libpq) == (schema, False)


def test_an_unsafe_schema_name_is_refused() -> None:
    with pytest.raises(ValueError, match="schema"):
        split_url("postgresql://u@h/db?schema=x;drop")
