"""The README's Performance section quotes docs/benchmarks.md: every figure it gives is on that page."""

from __future__ import annotations

import re

from tests.conftest import REPO

# A figure: digits with thousands commas and decimals, not part of a word like p99 or 1.x.
FIGURE = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})*(?:\.\d+)?")


def figures(text: str) -> list[str]:
    return [match.group() for match in FIGURE.finditer(text)]


def value(figure: str) -> float:
    return float(figure.replace(",", ""))


def decimals(figure: str) -> int:
    return len(figure.split(".", 1)[1]) if "." in figure else 0


def test_every_figure_of_the_readmes_performance_section_is_on_the_benchmarks_page() -> None:
    section = (REPO / "README.md").read_text().split("## Performance", 1)[1].split("\n## ", 1)[0]
    page = {value(figure) for figure in figures((REPO / "docs" / "benchmarks.md").read_text())}
    quoted = figures(section)
    assert len(quoted) > 20
    for figure in quoted:
        # The README may round: 118.6 on the page is 119 there.
        assert any(round(number, decimals(figure)) == value(figure) for number in page), figure
