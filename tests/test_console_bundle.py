"""The console's committed bundle was built from the committed sources: `scripts/build-ui` writes the hash of every
source into `src/stackyard/ui/build.json`, and this recomputes it the same way (`ui/build.mjs: sourceHash`)."""

from __future__ import annotations

import hashlib
import json

from tests.conftest import REPO


def sources() -> list[str]:
    found = [str(path.relative_to(REPO)) for path in (REPO / "ui/src").rglob("*") if path.is_file()]
    found += [str(path.relative_to(REPO)) for path in (REPO / "examples/pipelines").glob("*.yml")]
    return sorted([*found, "ui/build.mjs", "ui/package.json", "ui/package-lock.json"])


def test_the_bundle_was_built_from_the_sources_as_they_are() -> None:
    digest = hashlib.sha256()
    for path in sources():
        digest.update(f"{path}\n".encode())
        digest.update((REPO / path).read_bytes())
        digest.update(b"\n")
    built = json.loads((REPO / "src/stackyard/ui/build.json").read_text())
    assert built == {"sources": digest.hexdigest(), "files": len(sources())}, "run scripts/build-ui and commit"


def test_the_page_loads_only_files_served_with_it() -> None:
    page = (REPO / "src/stackyard/ui/index.html").read_text()
    assert "http://" not in page
    assert "https://" not in page
