"""The LLM-app part of the benchmark (`bench/llm.py`) runs end to end at smoke sizes: the fake model, Stackyard and
the floor as real processes, every user of every wave answered with the model's reply. The part is called
directly, not through `python -m bench`, so it needs no entry in `bench.__main__.PARTS`.

No assertion here is about speed: the harness, its servers and its report are what is tested.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from bench import llm, report
from bench.plan import SMOKE

pytestmark = pytest.mark.process


def test_every_user_waiting_on_the_model_is_answered_plain_and_streamed_on_both_sides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAYSTACK_TELEMETRY_ENABLED", "false")
    plan = replace(SMOKE, work=tmp_path / "work", docs=tmp_path / "docs")
    section = llm.run(plan)

    rows = section.tables[0].rows
    users = llm.Sizes.of(plan).users
    expected = {(f"{count} users, {mode}", side) for count in users for mode in llm.MODES for side in llm.SIDES}
    assert {(row[0], row[1]) for row in rows} == expected
    # A run failed is a user left without the model's reply: a property of the servers, not a speed.
    assert [row for row in rows if row[-1] != "0"] == [], section.notes
    assert section.notes == []
    failed = f"LLM app: failed runs of Stackyard over {' and '.join(str(n) for n in users)} users"
    assert section.headline[failed] == "0"

    report.save(plan, section)
    rendered = report.render(plan, "python -m bench --smoke --parts llm").read_text()
    assert f"## {section.title}" in rendered
    assert "SMOKE SIZES" in rendered
