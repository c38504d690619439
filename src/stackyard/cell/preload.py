"""What the fork server imports once, so that every cell starts with it loaded: Haystack and the cell's modules.

Haystack imports torch as it loads (`haystack.utils.device`, under its lazy-import guard), which would put half a
gigabyte into the fork server and into every cell, though most pipelines never touch it. Here the heavy model
libraries are imported lazily: their module objects exist, and they are really loaded, in the cell that needs
them, the first time a component uses one (`importlib.util.LazyLoader`).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

# Not `transformers`: it replaces its own module in `sys.modules` as it loads (a `_LazyModule` of its own), which
# `LazyLoader` refuses; it is lazy already, and Haystack does not import it as it loads.
LAZY = frozenset({"torch", "sentence_transformers", "accelerate"})


class LazyModels(importlib.abc.MetaPathFinder):
    """Finds the libraries in `LAZY` as the other finders would, with their loader made lazy."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in LAZY:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            if spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return None
            spec.loader = importlib.util.LazyLoader(spec.loader)
            return spec
        return None


def install() -> None:
    if not any(isinstance(finder, LazyModels) for finder in sys.meta_path):
        sys.meta_path.insert(0, LazyModels())


install()

import haystack  # noqa: E402,F401 - the point of this module: loaded once in the fork server

import stackyard.cell.life  # noqa: E402,F401
