"""Part 10, a local model: a PromptBuilder feeding a `SentenceTransformersTextEmbedder` that loads a MiniLM-shaped
model from a local folder (`bench/minilm.py`: random weights, no download), served by Stackyard, the floor and
Hayhooks side by side, each pinned to core 0.

Why: a pipeline that holds a model is where a server's way of running component code costs the most. Its runs
are CPU-bound in torch, so a server that runs them elsewhere than the floor does (Stackyard: in a cell of the
pipeline's own, with its torch threads set for that cell) must not lose throughput or add latency to it; the
model's memory is large, so a server must hold it once, not once per process; and an update that changes only a
template must not load the model again. Measured:

- at 1 and 4 connections, short texts (`Sizes.words` made-up words, `minilm.sentence`): runs per second, p50, p99
  and the slowest run of each side, and each as a ratio to the floor's;
- after the load, the proportional set size (PSS) of every process of each server (`Server.pss_mib`: the HTTP
  process, the fork server and every cell for Stackyard), as a ratio to the floor's;
- on Stackyard, `Sizes.updates` updates that change only the PromptBuilder's template (the embedder's parameters
  stay the same, so its model may be kept): how long each `PUT /pipelines/embed` takes to answer, whether the next
  run answers with the new template, and whether the model was loaded again (a process of the server grew by
  half the model's size or more, or the process that held the model is gone: the model then lives elsewhere).

Goals (the issue's): at 1 and 4 connections at least 0.9 of the floor's throughput, p99 at most 1.5x the floor's,
no run slower than twice the floor's slowest; PSS of all processes at most 1.25x the floor's; a template-only update
answered within 20 ms and no model loaded again. What is measured is reported, goals met or not.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import minilm, processes, workloads
from bench.load import LoadResult, Summary, interleaved
from bench.plan import Plan
from bench.processes import Server
from bench.report import Plot, Section, Table, ms, num

NAME = "embed"
EMBEDDER = (
    "haystack_integrations.components.embedders.sentence_transformers.sentence_transformers_text_embedder."
    "SentenceTransformersTextEmbedder"
)
# What every server's process needs to find the model without the network; Stackyard's cells see only the
# variables named in STACKYARD_WORKER_ENVIRONMENT (`model_env`).
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
_YAML = {"Content-Type": "application/yaml"}
GOALS = {"throughput": 0.9, "p99": 1.5, "slowest": 2.0, "pss": 1.25, "update_ms": 20.0}


@dataclass(frozen=True)
class Sizes:
    """The model, the load and the updates: the issue's, or tiny ones for the smoke run."""

    model: str  # a `minilm.SHAPES` key
    connections: tuple[int, ...]
    words: int  # words in each run's text
    updates: int  # template-only updates timed on Stackyard
    rounds: int
    seconds: float

    @classmethod
    def of(cls, plan: Plan) -> Sizes:
        if plan.smoke:
            return cls(model="smoke", connections=(1, 4), words=20, updates=2, rounds=1, seconds=plan.seconds)
        return cls(model="full", connections=(1, 4), words=30, updates=10, rounds=plan.rounds, seconds=plan.seconds)


def template(revision: int) -> str:
    """The PromptBuilder's template of revision `revision`: each is a new text, the embedder's parameters never
    change. Its first word is one the tokenizer knows (it has no digits), so each revision embeds differently."""
    return f"{minilm.vocabulary()[revision]}: {{{{ text }}}}"


def embed_yaml(model: Path, revision: int) -> str:
    """A PromptBuilder feeding the embedder, with Hayhooks-style `inputs:`/`outputs:` sections."""
    embedder = {
        "model": str(model),
        "device": {"type": "single", "device": "cpu"},
        "token": None,  # no Hugging Face token: the model is a local folder
        "progress_bar": False,
        "local_files_only": True,
    }
    return f"""\
components:
  prompt:
    type: haystack.components.builders.prompt_builder.PromptBuilder
    init_parameters:
      template: {json.dumps(template(revision))}
      required_variables: [text]
  embedder:
    type: {EMBEDDER}
    init_parameters: {json.dumps(embedder)}
connections:
  - sender: prompt.prompt
    receiver: embedder.text
inputs:
  text: prompt.text
outputs:
  embedding: embedder.embedding
"""


def model_env(model: Path) -> dict[str, str]:
    """Stackyard's settings for a model in a local folder: component code may read the folder, and its cells see
    the offline switches (their environment holds only what is named here and the basics)."""
    return {
        **OFFLINE,
        "STACKYARD_READABLE_DIRS": str(model),
        "STACKYARD_WORKER_ENVIRONMENT": ",".join(OFFLINE),
    }


def hayhooks_with_models(executable: Path) -> tuple[Path | None, str]:
    """Hayhooks' own virtual environment with the model libraries (CPU torch) installed, or None and why not."""
    python = executable.parent / "python"
    probe = "import sentence_transformers, haystack_integrations.components.embedders.sentence_transformers"
    if subprocess.run([str(python), "-c", probe], capture_output=True, check=False).returncode == 0:
        return executable, "model libraries present in Hayhooks' environment"
    print("installing torch (CPU) and sentence-transformers-haystack into Hayhooks' environment ...", flush=True)
    finished = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "torch==2.13.0", "sentence-transformers-haystack"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if finished.returncode != 0:
        return None, f"the model libraries could not be installed for Hayhooks: {finished.stderr[-300:]}"
    return executable, "model libraries installed into Hayhooks' environment"


def _problem(answer: httpx.Response) -> str:
    """A failed answer as its status, problem type, title and detail (what Stackyard's problems carry)."""
    try:
        body = answer.json()
    except ValueError:
        return f"{answer.status_code} {answer.text[:300]}"
    if not isinstance(body, dict):
        return f"{answer.status_code} {answer.text[:300]}"
    kind = str(body.get("type", "")).rsplit("/", 1)[-1]
    parts = [str(answer.status_code), kind, str(body.get("title", "")), str(body.get("detail", ""))[:400]]
    return " ".join(part for part in parts if part)


def _embedding(value: Any) -> list[float] | None:
    """The `embedding` list anywhere in a run's answer (each server nests it its own way)."""
    if isinstance(value, dict):
        found = value.get("embedding")
        if isinstance(found, list) and found and all(isinstance(x, int | float) for x in found):
            return [float(x) for x in found]
        for item in value.values():
            if (inner := _embedding(item)) is not None:
                return inner
    return None


def _pids(server: Server) -> Iterator[int]:
    yield server.process.pid
    yield from processes._children(server.process.pid)


def pss_by_process(server: Server) -> dict[int, float]:
    """PSS of each of the server's processes, in MiB."""
    found = {}
    for pid in _pids(server):
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in lines:
            if line.startswith("Pss:"):
                found[pid] = int(line.split()[1]) / 1024
    return found


@dataclass
class Side:
    """One server under test: where it runs the pipeline and with what body."""

    server: Server
    run_url: str
    body: dict[str, object]
    deployed_s: float | None = None  # how long its first deploy (the model loaded) took, where timed
    problem: str | None = None  # why it serves no run, if it does not


@dataclass
class Updates:
    """What the template-only updates on Stackyard did."""

    took_ms: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    answered_new: int = 0  # updates after which a run answered with the new template
    pss_before: dict[int, float] = field(default_factory=dict)
    pss_after: dict[int, float] = field(default_factory=dict)
    reloaded: bool | None = None
    how: str = ""


def _first_run(side: Side, dimension: int) -> str | None:
    """One run before the load: the answer must hold an embedding of the model's size."""
    try:
        answer = httpx.post(side.run_url, json=side.body, timeout=120)
    except httpx.HTTPError as error:
        return f"the first run failed: {type(error).__name__}: {error}"
    if answer.status_code != 200:
        return f"the first run failed: {_problem(answer)}"
    embedding = _embedding(answer.json())
    if embedding is None or len(embedding) != dimension:
        return f"the first run answered no embedding of {dimension} values: {answer.text[:200]}"
    return None


def _deploy(server: Server, model: Path, revision: int) -> tuple[float, str | None]:
    """PUT revision `revision` of the pipeline; its duration and, if it failed, the problem."""
    began = time.perf_counter()
    try:
        answer = httpx.put(
            f"{server.url}/pipelines/{NAME}", content=embed_yaml(model, revision), headers=_YAML, timeout=300
        )
    except httpx.HTTPError as error:
        return time.perf_counter() - began, f"{type(error).__name__}: {error}"
    took = time.perf_counter() - began
    return took, None if answer.is_success else _problem(answer)


def _template_updates(side: Side, model: Path, sizes: Sizes, settle: float) -> Updates:
    """`sizes.updates` template-only updates, one after the other with no load; PSS per process before and after."""
    found = Updates()
    threshold = max(16.0, _folder_mib(model) / 2)
    found.pss_before = pss_by_process(side.server)
    holder = max(found.pss_before, key=lambda pid: found.pss_before[pid])
    previous = _embedding(httpx.post(side.run_url, json=side.body, timeout=60).json())
    for revision in range(1, sizes.updates + 1):
        took, problem = _deploy(side.server, model, revision)
        found.took_ms.append(took * 1000)
        if problem is not None:
            found.failed.append(problem)
            continue
        answer = httpx.post(side.run_url, json=side.body, timeout=60)
        now = _embedding(answer.json()) if answer.status_code == 200 else None
        if now is not None and previous is not None and now != previous:
            found.answered_new += 1  # the text embedded changed with the template: the new revision answered
        previous = now
    time.sleep(settle)  # retired revisions are forgotten, and cells that served only them end
    found.pss_after = pss_by_process(side.server)
    grown = {pid: mib - found.pss_before.get(pid, 0.0) for pid, mib in found.pss_after.items()}
    biggest = max(grown, key=lambda pid: grown[pid])
    if holder not in found.pss_after:
        found.reloaded = True
        found.how = (
            f"the process that held the model (pid {holder}, {found.pss_before[holder]:.0f} MiB) is gone; pid "
            f"{biggest} grew by {grown[biggest]:.0f} MiB"
        )
    elif grown[biggest] >= threshold:
        found.reloaded = True
        found.how = f"pid {biggest} grew by {grown[biggest]:.0f} MiB (threshold {threshold:.0f} MiB)"
    else:
        found.reloaded = False
        found.how = (
            f"the process holding the model (pid {holder}) serves on; no process grew by {threshold:.0f} MiB or "
            f"more (most: {grown[biggest]:+.0f} MiB)"
        )
    return found


def _folder_mib(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1024 / 1024


def _start(
    plan: Plan, folder: Path, model: Path, pipelines: Path, notes: list[str]
) -> tuple[ExitStack, dict[str, Side]]:
    stack = ExitStack()
    try:
        return stack, _enter(plan, stack, folder, model, pipelines, notes)
    except BaseException:
        stack.close()  # a server that failed to start must not leave the others running
        raise


def _enter(
    plan: Plan, stack: ExitStack, folder: Path, model: Path, pipelines: Path, notes: list[str]
) -> dict[str, Side]:
    sides: dict[str, Side] = {}
    body = {"text": minilm.sentence(Sizes.of(plan).words, seed=1)}
    stackyard = stack.enter_context(processes.stackyard(folder, [], env=model_env(model)))
    side = Side(stackyard, f"{stackyard.url}/pipelines/{NAME}/run", {"data": body})
    side.deployed_s, side.problem = _deploy(stackyard, model, 0)
    if side.problem is not None:
        side.problem = f"deploying the pipeline failed: {side.problem}"
    sides["Stackyard"] = side
    floor = stack.enter_context(processes.floor(folder, [pipelines / f"{NAME}.yml"], env=OFFLINE))
    sides["floor"] = Side(floor, f"{floor.url}/pipelines/{NAME}/run", {"data": body})
    if plan.hayhooks is not None:
        executable, note = hayhooks_with_models(plan.hayhooks)
        notes.append(f"Hayhooks: {note}.")
        try:
            if executable is not None:
                hayhooks = stack.enter_context(processes.hayhooks(folder, executable, pipelines))
                sides["Hayhooks"] = Side(hayhooks, f"{hayhooks.url}/{NAME}/run", dict(body))
        except RuntimeError as error:  # the other sides are still worth measuring
            notes.append(f"Hayhooks did not start: {str(error)[-600:]}")
    else:
        notes.append("Hayhooks was not measured in this run (smoke run, or it could not be installed).")
    return sides


def run(plan: Plan) -> Section:
    sizes = Sizes.of(plan)
    folder = plan.work / "models"
    for name, value in {**OFFLINE, "HAYSTACK_TELEMETRY_ENABLED": "false"}.items():
        os.environ.setdefault(name, value)  # every server started here inherits them: no server reaches a hub
    model = minilm.ensure(plan.work / "minilm" / sizes.model, sizes.model)
    dimension = minilm.SHAPES[sizes.model].hidden
    pipelines = workloads.write(folder / "pipelines", {NAME: embed_yaml(model, 0)})
    notes: list[str] = []
    results: dict[int, dict[str, list[LoadResult]]] = {}
    memory: dict[str, dict[int, float]] = {}
    updates: Updates | None = None
    stack, sides = _start(plan, folder, model, pipelines, notes)
    with stack:
        for side in sides.values():
            if side.problem is None:
                side.problem = _first_run(side, dimension)
        serving = {system: side for system, side in sides.items() if side.problem is None}
        if "floor" not in serving:
            raise RuntimeError(f"the floor cannot run the pipeline: {sides['floor'].problem}")
        for connections in sizes.connections:
            results[connections] = interleaved(
                {system: (side.run_url, side.body) for system, side in serving.items()},
                rounds=sizes.rounds,
                seconds=sizes.seconds,
                connections=connections,
                use_wrk=plan.use_wrk,
            )
        memory = {system: pss_by_process(side.server) for system, side in sides.items()}
        if "Stackyard" in serving:
            updates = _template_updates(serving["Stackyard"], model, sizes, settle=0.5 if plan.smoke else 2.0)
    return _section(plan, sizes, model, sides, results, memory, updates, notes)


@dataclass
class Report:
    """The section's parts as they are gathered: tables' rows, headline, goals, plots."""

    headline: dict[str, str] = field(default_factory=dict)
    goals: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    throughput: dict[str, dict[str, float]] = field(default_factory=dict)
    p99: dict[str, dict[str, float]] = field(default_factory=dict)


def _load_rows(sides: dict[str, Side], results: dict[int, dict[str, list[LoadResult]]], out: Report) -> list[list[str]]:
    rows = []
    for connections, by_system in results.items():
        floor = _figures(by_system["floor"])
        group = f"{connections} connection{'s' if connections > 1 else ''}"
        for system in sides:
            if system not in by_system:
                rows.append([str(connections), system, "-", "-", "-", "-", "-", "-", "-", "no run served"])
                continue
            mine = _figures(by_system[system])
            ratios = {key: mine[key] / floor[key] if floor[key] else 0.0 for key in ("rps", "p99", "max")}
            rows.append(
                [
                    str(connections),
                    system,
                    num(mine["rps"]),
                    f"{ratios['rps']:.2f}",
                    ms(mine["p50"]),
                    ms(mine["p99"]),
                    f"{ratios['p99']:.2f}",
                    ms(mine["max"]),
                    f"{ratios['max']:.2f}",
                    f"{int(mine['failed'])} of {int(mine['runs'])}",
                ]
            )
            out.throughput.setdefault(system, {})[group] = ratios["rps"]
            out.p99.setdefault(system, {})[group] = mine["p99"]
            if system == "Stackyard":
                out.headline[f"Local model, {group}: Stackyard throughput / floor"] = f"{ratios['rps']:.2f}"
                out.goals += [
                    _goal(f"{group}: throughput of floor", ratios["rps"], ">=", GOALS["throughput"]),
                    _goal(f"{group}: p99 of floor", ratios["p99"], "<=", GOALS["p99"]),
                    _goal(f"{group}: slowest run of floor's slowest", ratios["max"], "<=", GOALS["slowest"]),
                ]
    return rows


def _memory_rows(sides: dict[str, Side], memory: dict[str, dict[int, float]], out: Report) -> list[list[str]]:
    rows = []
    floor_pss = sum(memory.get("floor", {}).values())
    for system, by_pid in memory.items():
        total = sum(by_pid.values())
        ratio = total / floor_pss if floor_pss else 0.0
        rows.append([system, f"{total:.0f}", f"{ratio:.2f}", str(len(by_pid)), f"{max(by_pid.values()):.0f}"])
        if system != "Stackyard":
            continue
        out.headline["Local model: Stackyard PSS / floor"] = f"{ratio:.2f}"
        if sides[system].problem is None:
            out.goals.append(_goal("PSS of all processes, of floor", ratio, "<=", GOALS["pss"]))
        else:
            out.notes.append("Stackyard's PSS is that of a server whose pipeline did not deploy: it holds no model.")
    return rows


def _update_rows(updates: Updates, out: Report) -> list[list[str]]:
    took = updates.took_ms
    p50 = statistics.median(took) if took else 0.0
    worst = max(took, default=0.0)
    loaded = "yes" if updates.reloaded else "no"
    out.notes.append(f"Template-only updates: {updates.how}.")
    out.notes += [f"A template-only update failed: {problem}" for problem in dict.fromkeys(updates.failed)]
    out.headline["Local model: template-only update on Stackyard, p50 ms"] = ms(p50)
    out.headline["Local model: model loaded again by a template-only update"] = loaded
    out.goals.append(_goal("template-only update, slowest ms", worst, "<=", GOALS["update_ms"]))
    out.goals.append(["template-only update loads no model", loaded, "no", _met(not updates.reloaded)])
    return [
        [
            f"{len(took) - len(updates.failed)} of {len(took)}",
            ms(p50),
            ms(worst),
            f"{updates.answered_new} of {len(took)}",
            f"{sum(updates.pss_before.values()):.0f} -> {sum(updates.pss_after.values()):.0f}",
            f"{len(updates.pss_before)} -> {len(updates.pss_after)}",
            loaded,
        ]
    ]


LOAD_HEADERS = [
    "connections",
    "server",
    "runs/s",
    "of floor",
    "p50 ms",
    "p99 ms",
    "p99 of floor",
    "slowest ms",
    "slowest of floor",
    "failed",
]
UPDATE_HEADERS = [
    "updates applied",
    "PUT ms (p50)",
    "PUT ms (slowest)",
    "runs answering the new template",
    "PSS MiB before -> after",
    "processes before -> after",
    "model loaded again",
]


def _section(
    plan: Plan,
    sizes: Sizes,
    model: Path,
    sides: dict[str, Side],
    results: dict[int, dict[str, list[LoadResult]]],
    memory: dict[str, dict[int, float]],
    updates: Updates | None,
    notes: list[str],
) -> Section:
    out = Report(notes=notes)
    tables = [
        Table(LOAD_HEADERS, _load_rows(sides, results, out)),
        Table(["server", "PSS MiB", "of floor", "processes", "largest process MiB"], _memory_rows(sides, memory, out)),
    ]
    if updates is not None:
        tables.append(Table(UPDATE_HEADERS, _update_rows(updates, out)))
    if out.goals:
        tables.append(Table(["goal (Stackyard)", "measured", "target", "met"], out.goals))
    for system, side in sides.items():
        if side.problem is not None:
            out.headline[f"Local model: {system}"] = "served no run (see the notes)"
            out.notes.append(
                f"{system} served no run: {side.problem.rstrip('.')}. Its server log: `{side.server.log}`."
            )
    stackyard = sides["Stackyard"]
    if stackyard.deployed_s is not None and stackyard.problem is None:
        out.notes.append(
            f"Stackyard's first deploy of the pipeline (a cell started, the model loaded) took "
            f"{stackyard.deployed_s:.2f} s."
        )
    shape = minilm.SHAPES[sizes.model]
    params = "22.7 million parameters" if sizes.model == "full" else "a tiny smoke-size model"
    return Section(
        part="10-models",
        title="10. A local embedding model",
        text=(
            "A PromptBuilder feeding Haystack's `SentenceTransformersTextEmbedder` (sentence-transformers-haystack), "
            f"its `model` a local folder: a BERT of {shape.layers} layers, hidden size {shape.hidden}, "
            f"{shape.heads} heads, intermediate size {shape.intermediate}, mean pooling ({params}, "
            f"{_folder_mib(model):.0f} MiB on disk), with random weights and a WordPiece tokenizer trained on made-up "
            "words (`bench/minilm.py`: MiniLM-L6's shape, nothing downloaded). Each run embeds a text of "
            f"{sizes.words} made-up words. Stackyard (`stackyard serve` in its default configuration, the model's "
            "folder in `STACKYARD_READABLE_DIRS`, `HF_HUB_OFFLINE`/`TRANSFORMERS_OFFLINE` passed to its cells with "
            "`STACKYARD_WORKER_ENVIRONMENT`; the pipeline deployed with `PUT /pipelines/embed`), the floor "
            "(`bench/floor.py`: `Pipeline.run` in Starlette's threadpool) and Hayhooks (its YAML deploy) each run on "
            "core 0 with their own defaults for torch's threads; the load "
            f"({'wrk -t1' if plan.use_wrk else 'Python loop'}) runs on core 1 at "
            f"{' and '.join(str(n) for n in sizes.connections)} connections, median of {sizes.rounds} round(s) of "
            f"{sizes.seconds:g} s, sides interleaved; `slowest` is the slowest run of all rounds. PSS is summed over "
            "every process of a server after the load. Then, with no load, Stackyard's pipeline is updated "
            f"{sizes.updates} times, each changing only the PromptBuilder's template, so the embedder is the same "
            "component with the same parameters; `model loaded again` if a process of the server grew by half the "
            "model's size (16 MiB at least) or the process that held the model ended. Goals: at least 0.9 of the "
            "floor's throughput, p99 at most 1.5x the floor's, no run slower than twice the floor's slowest, PSS at "
            "most 1.25x the floor's, a template-only update within 20 ms that loads no model."
        ),
        tables=tables,
        plots=[
            Plot(
                "models-throughput.png",
                "Local model: throughput relative to the floor",
                "share of the floor's runs/s",
                out.throughput,
            ),
            Plot("models-latency.png", "Local model: p99 latency", "ms", out.p99),
        ]
        if out.throughput
        else [],
        notes=out.notes,
        headline=out.headline,
    )


def _figures(rounds: list[LoadResult]) -> dict[str, float]:
    summary = Summary.of(rounds)
    return {
        "rps": summary.rps,
        "p50": summary.p50_ms,
        "p99": summary.p99_ms,
        "max": max((r.max_ms for r in rounds), default=0.0),
        "failed": float(summary.non2xx + summary.errors),
        "runs": float(sum(r.requests for r in rounds)),
    }


def _goal(what: str, value: float, sense: str, limit: float) -> list[str]:
    met = value >= limit if sense == ">=" else value <= limit
    return [what, f"{value:.2f}", f"{sense} {limit:g}", _met(met)]


def _met(met: bool) -> str:
    return "yes" if met else "**no**"
