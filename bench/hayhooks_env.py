"""Hayhooks from PyPI in its own virtual environment under bench/.work/, so its dependencies never meet ours."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.processes import WORK

VERSION = "2.1.0"


def ensure(work: Path = WORK) -> tuple[Path | None, str]:
    """The `hayhooks` executable (installing it when missing), or None and the reason."""
    venv = work / "hayhooks-venv"
    executable = venv / "bin" / "hayhooks"
    if executable.exists():
        return executable, f"hayhooks {VERSION} in {venv}"
    print(f"installing hayhooks=={VERSION} into {venv} ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"hayhooks=={VERSION}"], check=True)
    except subprocess.CalledProcessError as error:
        return None, f"Hayhooks could not be installed ({error}); its legs were skipped"
    return executable, f"hayhooks {VERSION} in {venv}"
