"""The layout shows the architecture: every module is on docs/architecture.md's map, no two modules share a name,
and no class name means two things (the client's twins of the server's problems and bodies mean the same)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections import defaultdict

import stackyard
from tests.conftest import REPO

SRC = REPO / "src" / "stackyard"
# The client mirrors the server by name: one class per problem type, one model per body.
TWINS = ("stackyard.client.",)


def _modules() -> list[str]:
    """Every module of the package, as a path below src/stackyard (packages' __init__ and __main__ aside)."""
    return sorted(
        str(path.relative_to(SRC)) for path in SRC.rglob("*.py") if path.name not in ("__init__.py", "__main__.py")
    )


def test_every_module_is_on_the_module_map() -> None:
    text = (REPO / "docs" / "architecture.md").read_text()
    mapped = text[text.index("## Module map") :]
    named = set(re.findall(r"`([a-z0-9_/]+\.py)`", mapped))
    packages = set(re.findall(r"`([a-z0-9_]+)/`", mapped))
    missing = [
        module
        for module in _modules()
        if module not in named
        and module.rsplit("/", 1)[-1] not in named  # a package row naming its modules by file name
        and module.split("/", 1)[0] not in packages
    ]
    assert missing == [], "add these modules to the module map in docs/architecture.md"
    ghosts = [name for name in named if "/" in name and not name.startswith("tests/") and not (SRC / name).exists()]
    assert ghosts == [], "the map names no module that is gone"


def test_no_two_modules_share_a_name() -> None:
    stems: dict[str, list[str]] = defaultdict(list)
    for module in _modules():
        stems[module.rsplit("/", 1)[-1].removesuffix(".py")].append(module)
    for package in {path.parent for path in SRC.rglob("__init__.py")} - {SRC}:
        stems[package.name].append(str(package.relative_to(SRC)) + "/")
    assert {stem: where for stem, where in stems.items() if len(where) > 1} == {}


def test_no_class_name_means_two_things() -> None:
    defined: dict[str, set[str]] = defaultdict(set)
    for module in pkgutil.walk_packages(stackyard.__path__, "stackyard."):
        if module.name.endswith("__main__"):  # that one runs the command
            continue
        for name, value in vars(importlib.import_module(module.name)).items():
            if inspect.isclass(value) and value.__module__ == module.name and not module.name.startswith(TWINS):
                defined[name].add(module.name)
    assert {name: sorted(where) for name, where in defined.items() if len(where) > 1} == {}
