"""Results of each part as data (saved as JSON), rendered into `docs/benchmarks.md` with PNG plots."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, cast

from bench.plan import Plan


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Plot:
    """Grouped bars: `series[label][group] = value`."""

    file: str
    title: str
    ylabel: str
    series: dict[str, dict[str, float]]


@dataclass
class Section:
    part: str
    title: str
    text: str
    tables: list[Table] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headline: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Section:
        section = cls(**data)  # type: ignore[arg-type]
        section.tables = [Table(**t) for t in cast(list[dict[str, Any]], data["tables"])]
        section.plots = [Plot(**p) for p in cast(list[dict[str, Any]], data["plots"])]
        return section


def ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def save(plan: Plan, section: Section) -> None:
    results = plan.work / ("results-smoke" if plan.smoke else "results")
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{section.part}.json").write_text(json.dumps(asdict(section), indent=1))


def load_sections(plan: Plan) -> list[Section]:
    results = plan.work / ("results-smoke" if plan.smoke else "results")
    # In the order of their numbers: part 10 after part 9.
    files = sorted(results.glob("*.json"), key=lambda path: (int(path.stem.split("-", 1)[0]), path.stem))
    return [Section.from_dict(json.loads(path.read_text())) for path in files]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine(plan: Plan) -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk = "not installed"
    if plan.use_wrk:
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.splitlines()[0]
    hayhooks = "not measured"
    if plan.hayhooks is not None:
        hayhooks = subprocess.run(
            [
                str(plan.hayhooks.parent / "python"),
                "-c",
                "import importlib.metadata as m; print(m.version('hayhooks'))",
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = f"{int(Path('/proc/meminfo').read_text().split()[1]) / 1024 / 1024:.1f} GiB"
    return [
        f"- Machine: {platform.node()}, {cpu}, {os.cpu_count()} cores, {memory} RAM, "
        f"{platform.system()} {platform.release()}",
        f"- Python {sys.version.split()[0]}; stackyard {_version('stackyard')}; haystack-ai {_version('haystack-ai')}; "
        f"uvicorn {_version('uvicorn')}; starlette {_version('starlette')}; hayhooks {hayhooks}",
        f"- Load generator: {wrk if plan.use_wrk else 'Python loop (httpx), not wrk'}",
    ]


NOTES = Path(__file__).with_name("notes.md")


def render(plan: Plan, command: str | None) -> Path:
    """Write the report (and plots) from every part's saved result; returns the Markdown file.

    `command` is the command that produced the results; None keeps the one recorded by the last run.
    """
    results = plan.work / ("results-smoke" if plan.smoke else "results")
    results.mkdir(parents=True, exist_ok=True)
    # The commands since the last run of every part, so a page mixing runs says which parts came from which.
    recorded = results / "command.txt"
    history = recorded.read_text().splitlines() if recorded.exists() else []
    if command is not None:
        history = [command] if "--parts" not in command else [*history, command]
        recorded.write_text("\n".join(history))
    command = "`, then `".join(history) or "python -m bench"
    sections = load_sections(plan)
    plots_dir = plan.docs / "bench"
    have_plots = _plots(sections, plots_dir)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        "Stackyard measured side by side with the floor (a bare Starlette endpoint calling the same Haystack "
        "`Pipeline` in the threadpool: no pipeline server can do less work per request) and with Hayhooks, in one "
        "run on one machine. Re-generate this page with `scripts/bench` (all parts) or "
        "`scripts/bench --parts overhead,updates` (some parts; the others keep their last results).",
        "",
        f"Generated {when}{' (SMOKE SIZES: numbers mean nothing)' if plan.smoke else ''}.",
        "",
        "## Machine and method",
        "",
        *machine(plan),
        "- The machine is **shared** with other people's test runs, so absolute numbers move between runs; read "
        "the ratios, which are measured in the same run with rounds interleaved between the systems. A figure "
        f"measured under load for a fixed time is the median of {plan.rounds} rounds of {plan.seconds:g} s; a "
        "figure over single operations (updates, propagations, deploys) is taken over all of them, as its part says.",
        "- Servers run pinned to core 0 (`taskset -c 0`); `wrk -t1` and the orchestrating script run on core 1, "
        "except in the scaling part, where two workers need both cores."
        if not plan.smoke
        else "- Smoke run: tiny sizes, no pinning, no Hayhooks; it checks that the harness works, not speed.",
        f"- Commands: `{command}`",
        "",
    ]
    headline = {k: v for s in sections for k, v in s.headline.items()}
    if headline:
        lines += ["## Headline", "", "| measure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in headline.items()]
        lines.append("")
    for section in sections:
        lines += [f"## {section.title}", "", section.text, ""]
        for table in section.tables:
            lines += [table.markdown(), ""]
        for plot in section.plots:
            if have_plots:
                lines += [f"![{plot.title}](bench/{plot.file})", ""]
        lines += [f"- {note}" for note in section.notes]
        if section.notes:
            lines.append("")
    if not have_plots:
        lines += ["(Plots need matplotlib: `pip install -e '.[bench]'`.)", ""]
    if NOTES.exists() and not plan.smoke:
        lines += [NOTES.read_text().strip(), ""]
    out = plan.docs / "benchmarks.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    return out


def _plots(sections: list[Section], folder: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    for section in sections:
        for plot in section.plots:
            groups = sorted({g for values in plot.series.values() for g in values}, key=_group_order(plot))
            labels = list(plot.series)
            width = 0.8 / max(1, len(labels))
            fig, ax = plt.subplots(figsize=(7, 3.6))
            for i, label in enumerate(labels):
                xs = [j + i * width for j in range(len(groups))]
                ax.bar(xs, [plot.series[label].get(g, 0) for g in groups], width, label=label)
            ax.set_xticks([j + width * (len(labels) - 1) / 2 for j in range(len(groups))], groups)
            ax.set_title(plot.title)
            ax.set_ylabel(plot.ylabel)
            ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(folder / plot.file, dpi=110)
            plt.close(fig)
    return True


def _group_order(plot: Plot) -> Callable[[str], int]:
    order: list[str] = []
    for values in plot.series.values():
        order += [g for g in values if g not in order]
    return order.index
