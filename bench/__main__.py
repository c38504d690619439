"""`python -m bench [--parts overhead,scaling,...] [--smoke]`: run benchmark parts and re-generate the report."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bench import (
    deploy,
    hayhooks_env,
    llm,
    many,
    models,
    overhead,
    propagation,
    report,
    scaling,
    streams,
    updates,
    workers,
)
from bench.load import ensure_wrk
from bench.plan import FULL, SMOKE
from bench.processes import LOAD_CPU, REPO

PARTS: dict[str, Callable[..., report.Section]] = {
    "overhead": overhead.run,
    "scaling": scaling.run,
    "updates": updates.run,
    "propagation": propagation.run,
    "many": many.run,
    "deploy": deploy.run,
    "workers": workers.run,
    "streams": streams.run,
    "llm": llm.run,
    "models": models.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from: {', '.join(PARTS)}")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, Python load loop, no Hayhooks")
    parser.add_argument("--docs", type=Path, default=None, help="where benchmarks.md and bench/*.png go (docs/)")
    parser.add_argument("--rounds", type=int, default=None, help="override the rounds per measurement")
    parser.add_argument("--seconds", type=float, default=None, help="override the length of one load round")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default bench/.work)")
    parser.add_argument("--render-only", action="store_true", help="re-write the report from the saved results")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")

    plan = SMOKE if args.smoke else FULL
    overrides: dict[str, object] = {"work": args.work or plan.work}
    # A smoke run never overwrites the published report unless told where to write.
    overrides["docs"] = args.docs or (overrides["work"] / "smoke-docs" if plan.smoke else REPO / "docs")  # type: ignore[operator]
    if args.rounds:
        overrides["rounds"] = args.rounds
    if args.seconds:
        overrides["seconds"] = args.seconds
    plan = replace(plan, **overrides)  # type: ignore[arg-type]
    if plan.smoke:
        plan = plan.with_tools(use_wrk=False, hayhooks=None)
    else:
        executable, note = hayhooks_env.ensure(plan.work)
        print(note, flush=True)
        plan = plan.with_tools(use_wrk=ensure_wrk(), hayhooks=executable)
        if (os.cpu_count() or 1) >= 2:
            # The orchestrator shares the load generator's core, never the servers'.
            os.sched_setaffinity(0, {int(LOAD_CPU)})
    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "false")

    failed = []
    for part in [] if args.render_only else parts:
        began = time.perf_counter()
        print(f"== {part}", flush=True)
        try:
            section = PARTS[part](plan)
            # Neighbours on a shared machine show in the load average; it is reported beside the figures.
            section.notes.append(f"Load average (1, 5, 15 min) when this part ended: {_load_average()}.")
        except Exception:  # one broken part must not lose the others' results
            traceback.print_exc()
            failed.append(part)
            continue
        report.save(plan, section)
        print(f"   done in {time.perf_counter() - began:.0f} s", flush=True)
    command = (
        "python -m bench"
        + (" --smoke" if plan.smoke else "")
        + (f" --parts {args.parts}" if args.parts != ",".join(PARTS) else "")
    )
    out = report.render(plan, None if args.render_only else command)
    print(f"report: {out}", flush=True)
    if failed:
        print(f"failed parts: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _load_average() -> str:
    try:
        return ", ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
