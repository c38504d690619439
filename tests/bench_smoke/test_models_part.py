"""The local-model part of the benchmark (`bench/models.py`) runs end to end at smoke sizes: a tiny MiniLM-shaped
model made offline (`bench/minilm.py`), Stackyard and the floor as real processes serving the same embedder
pipeline, every run answered, and template-only updates that do not load the model again. The part is called
directly, not through `python -m bench`, so it needs no entry in `bench.__main__.PARTS`.

No assertion here is about speed: the harness, its servers and its report are what is tested.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from bench import models, report
from bench.plan import SMOKE

pytestmark = pytest.mark.process


def test_every_embedding_run_is_answered_and_a_template_only_update_keeps_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sentence_transformers")  # the `models` extra; without it there is nothing to measure
    monkeypatch.setenv("HAYSTACK_TELEMETRY_ENABLED", "false")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may be downloaded: the model is made locally
    plan = replace(SMOKE, work=tmp_path / "work", docs=tmp_path / "docs")
    sizes = models.Sizes.of(plan)
    section = models.run(plan)
    why = "\n".join(section.notes)  # what failed, and the server's problem, when an assertion does

    load, memory = section.tables[0], section.tables[1]
    expected = {(str(connections), side) for connections in sizes.connections for side in ("Stackyard", "floor")}
    assert {(row[0], row[1]) for row in load.rows} == expected, why
    # Every side served the pipeline, and every run of every round was answered with 2xx.
    failed = [row for row in load.rows if not row[-1].startswith("0 of ") or row[-1] == "0 of 0"]
    assert failed == [], why
    assert {row[0] for row in memory.rows} == {"Stackyard", "floor"}

    updates = section.tables[2]
    assert updates.headers == models.UPDATE_HEADERS
    [row] = updates.rows
    assert row[0] == f"{sizes.updates} of {sizes.updates}", why  # every update applied
    assert row[3] == f"{sizes.updates} of {sizes.updates}", why  # each new template answered at once
    # The embedder kept its type and parameters: its model must stay where it was, loaded once.
    assert section.headline["Local model: model loaded again by a template-only update"] == "no", why

    report.save(plan, section)
    rendered = report.render(plan, "python -m bench --smoke --parts models").read_text()
    assert f"## {section.title}" in rendered
    assert "SMOKE SIZES" in rendered
