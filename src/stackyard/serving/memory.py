"""One memory budget for a server process and all its cells (`STACKYARD_MEMORY_BUDGET_BYTES`).

By default the budget is what the host gives: the cgroup's limit where there is one (cgroup v2 `memory.max`, v1
`memory.limit_in_bytes`: a container's or a pod's limit), else the host's memory; shared evenly between the server
processes of `stackyard serve --workers N`. Each cell's address-space limit guards against one runaway
allocation; this budget bounds what all of them hold together, which per-process limits cannot do.

`MemoryWatch` reads the resident memory of the server process and each cell (`/proc/PID/statm`) a few times a
second. Past `CELLS_AT` of the budget, the cell holding the most is ended (its runs fail and say why) and
replaced: the kernel's OOM killer would choose too (cells set `oom_score_adj` to 1000), but later, and its victim
could not say why. Past `SERVER_AT` for the server process itself, new runs are refused (503) until it is below
again: what the server holds is the answers on their way out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CELLS_AT = 0.95  # of the budget, for everything together: the largest cell is ended
SERVER_AT = 0.25  # of the budget, for the server process alone: new runs are refused
NO_LIMIT = 1 << 60  # cgroup v1 writes "no limit" as a huge number (9223372036854771712)
PAGE = os.sysconf("SC_PAGE_SIZE")


def host_budget(processes: int = 1) -> int:
    """The memory this server process may use with its cells: the host's (or cgroup's) share of one of
    `processes` server processes."""
    limits = [_meminfo_total(), *_cgroup_limits()]
    return min(limit for limit in limits if limit > 0) // max(1, processes)


def resident_bytes(pid: int) -> int | None:
    """The resident memory of process `pid`, or None if it is gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Verdict:
    """What the watch found: the cell to end (its pid), whether the server should refuse new runs, and the sum."""

    end: int | None
    refuse: bool
    total: int


@dataclass(frozen=True)
class MemoryWatch:
    budget: int

    def judge(self, server: int, cells: Iterable[int]) -> Verdict:
        """Weigh the server process `server` and the cells `cells` (pids) against the budget."""
        own = resident_bytes(server) or 0
        held = {pid: size for pid in cells if (size := resident_bytes(pid)) is not None}
        total = own + sum(held.values())
        end = max(held, key=held.__getitem__) if held and total > self.budget * CELLS_AT else None
        return Verdict(end, own > self.budget * SERVER_AT, total)


def _meminfo_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _cgroup_limits() -> list[int]:
    """The memory limits of this process's cgroups, v2 and v1, where they can be read (none: no limit)."""
    found: list[int] = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    root = Path("/sys/fs/cgroup")
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if controllers == "":  # v2: one hierarchy
            candidates = [root / relative / "memory.max", root / "memory.max"]
        elif "memory" in controllers.split(","):
            candidates = [root / "memory" / relative / "memory.limit_in_bytes", root / "memory/memory.limit_in_bytes"]
        else:
            continue
        for candidate in candidates:
            try:
                text = candidate.read_text().strip()
            except OSError:
                continue
            if text.isdigit() and int(text) < NO_LIMIT:
                found.append(int(text))
            break
    return found
