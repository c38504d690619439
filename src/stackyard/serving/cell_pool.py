"""The cells of one server process: groups of them by placement (`serving.placement`), the builds each holds, and
the way a job reaches one and comes back within its deadline.

- **Built before it serves.** A build is made and warmed in every cell of its group before `prepare` returns, so
  the swap that follows sends no run to a cell without it. A replacement cell builds every build of its group
  before it takes a job. A run never waits for a build.
- **Many jobs per cell.** A job goes to the serving cell of its group with the fewest jobs in flight.
- **Deadlines.** A job carries its deadline. Past it the server answers its caller (504), tells the cell to cancel
  it, and gives it `GRACE` seconds: a job still running then is one the cell cannot stop (a thread), so the cell
  is recycled: a replacement is started and built, the old cell takes no new job and is ended once its other jobs
  are answered or past their own deadlines. A cell that asks to retire (memory ran out, a job overran its CPU
  time) is recycled the same way.
- **Stalls.** A cell sends a beat every 0.1 s from a thread of its own. One with runs in flight that has sent
  nothing for `STALL` seconds is held by a call that keeps Python's lock (a backtracking regex, a C extension):
  nothing else in it moves. It is recycled like an overdue one, and the jobs its reader never took go to another
  cell. A cell that is building is not judged so: loading a model may keep the lock for seconds.
- **Crashes.** A cell that dies fails only its own jobs in flight; its group gets a replacement. A pipeline whose
  jobs were in flight in `CRASHES` cells that died within `CRASH_WINDOW` seconds is refused for a while (429):
  one tenant's crashing pipeline cannot keep taking the cells of the others down.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import itertools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from stackyard.errors import BuildTimeout, PipelineCrashing, RunFailed, RunNotStarted, StackyardError
from stackyard.serving.cells import Cell, CellState, Spawner, close_pidfd
from stackyard.serving.channel import Answer, CellLost, NotTaken, OnChunk
from stackyard.serving.memory import MemoryWatch, host_budget
from stackyard.serving.placement import SHARED, GroupSpec, check_indexes, compute_threads, place
from stackyard.settings import Settings
from stackyard.wire.build_info import BuildInfo, key_of
from stackyard.wire.cell_config import CellConfig, cell_environment
from stackyard.wire.jobs import Cancel, Examine, Forget, Job, Prepare
from stackyard.wire.replies import Failed

log = logging.getLogger(__name__)

STOP_WAIT = 5.0  # seconds a cell has to end once its socket is closed, before it is killed
GRACE = 1.0  # seconds a cancelled job has to stop before its cell is recycled
CRASHES = 3  # cells a pipeline's jobs may see die within CRASH_WINDOW before its runs are refused
CRASH_WINDOW = 60.0
EXAMINING = 4  # throwaway cells at once for validations; more wait their turn (each is a process)
STALL = 1.0  # seconds a cell with runs in flight may be silent before it counts as stalled


def cell_config(settings: Settings, scratch_root: str | None = None) -> CellConfig:
    """What the cells of a server with `settings` need to know; with `scratch_root`, where they make their
    scratch folders, and the rules they enforce (`cell.containment`)."""
    return CellConfig(
        max_yaml_bytes=settings.max_yaml_bytes,
        rules=settings.policy(),
        extra_allowed_modules=tuple(settings.extra_allowed_modules),
        memory_bytes=settings.worker_memory_bytes,
        cpu_seconds=settings.run_cpu_seconds,
        environment=cell_environment(os.environ, settings.secret_env_allowlist, settings.worker_environment),
        allowed_hosts=tuple(settings.allowed_hosts),
        readable=tuple(str(path) for path in settings.readable_dirs),
        writable=tuple(str(path) for path in settings.writable_dirs),
        scratch_root=scratch_root,
        input_dirs=tuple(str(path) for path in settings.readable_dirs),
        threads=settings.cell_threads,
        max_result_bytes=settings.max_result_bytes,
        max_input_chars=settings.max_input_chars,
    )


class WorkTimedOut(Exception):
    """The job passed its deadline; its caller is answered, the job cancelled (its cell recycled if need be)."""


@dataclass(eq=False)
class Group:
    """Cells that hold the same builds."""

    spec: GroupSpec
    cells: list[Cell] = field(default_factory=list)
    builds: dict[str, str] = field(default_factory=dict)  # key -> YAML: what each of its cells holds
    indexes: tuple[str, ...] = ()
    starting: int = 0

    def serving(self) -> list[Cell]:
        return [cell for cell in self.cells if cell.state is CellState.SERVING]


class CellPool:
    """Builds and runs in cells, with deadlines that end cells, never the server."""

    def __init__(
        self,
        config: CellConfig,
        *,
        shared: int,
        build_timeout: float,
        cores: int | None = None,
        memory_budget: int | None = None,
    ) -> None:
        self.config = config
        self.shared_size = max(1, shared)
        self.build_timeout = build_timeout
        self.cores = cores or len(os.sched_getaffinity(0))
        self.groups: dict[str, Group] = {}
        self.placed: dict[str, str] = {}  # pipeline name -> group it was last built in
        self._key_groups: dict[str, set[str]] = collections.defaultdict(set)  # build key -> groups holding it
        self._changed = asyncio.Condition()
        self._names = itertools.count(1)
        self._spawners: dict[int, Spawner] = {}
        self._crashes: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._examining = asyncio.Semaphore(EXAMINING)
        self.memory = MemoryWatch(memory_budget or host_budget())
        self.short_of_memory = False  # the server process holds too much itself: new runs wait (`Leases`)
        self._ended_for_memory: Cell | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> CellPool:
        """The pool a server with `settings` runs its builds and runs in; its cells' scratch folders go in a folder
        of its own, removed when it closes."""
        return cls(
            cell_config(settings, tempfile.mkdtemp(prefix="stackyard-scratch-")),
            shared=settings.run_workers,
            build_timeout=settings.build_timeout,
            memory_budget=settings.memory_budget_bytes or host_budget(settings.workers),
        )

    # -- life ----------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the shared cells (the first start also starts the fork server, about a second)."""
        group = self._group(GroupSpec(SHARED, self.shared_size, own=False))
        await self._fill(group)
        self._in_background(self._watch())

    async def _watch(self) -> None:
        """A few times a second: the memory budget, then cells that stalled."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(STALL / 5)
            self._weigh()
            now = loop.time()
            for cell in self._cells():
                channel = cell.channel
                if (
                    cell.state is CellState.SERVING
                    and cell.deadlines
                    and not cell.building
                    and now - channel.heard > STALL
                ):
                    log.warning(
                        "cell %s has sent nothing for %.1f s while it has work; it is replaced",
                        cell.name,
                        now - channel.heard,
                    )
                    self.recycle(cell, "it stopped answering (a call held Python's lock)")
                    channel.give_back_untaken()

    def _weigh(self) -> None:
        cells = {cell.pid: cell for cell in self._cells()}
        verdict = self.memory.judge(os.getpid(), cells)
        if verdict.refuse != self.short_of_memory:
            log.warning("the server process %s new runs: its memory", "refuses" if verdict.refuse else "takes again")
            self.short_of_memory = verdict.refuse
        heaviest = cells.get(verdict.end) if verdict.end is not None else None
        ending = self._ended_for_memory
        if ending is not None and ending.state is not CellState.GONE:
            return  # one at a time: what the last one held is freed once it is gone
        if heaviest is not None and heaviest.state is not CellState.GONE:
            self._ended_for_memory = heaviest
            budget = self.memory.budget
            log.warning(
                "memory budget reached (%s of %s bytes): cell %s, the largest, is ended",
                verdict.total,
                budget,
                heaviest.name,
            )
            heaviest.retire_reason = (
                f"the server's memory budget ({budget} bytes, STACKYARD_MEMORY_BUDGET_BYTES) was reached, and this "
                "cell held the most"
            )
            heaviest.kill()

    async def close(self) -> None:
        """End every cell: its socket closed, it ends at once; one that does not is killed."""
        self._closed = True
        cells = [cell for group in self.groups.values() for cell in group.cells]
        for cell in cells:
            cell.channel.close()
        for cell in cells:
            await self._wait_gone(cell, STOP_WAIT)
        for task in list(self._background):
            task.cancel()
        async with self._changed:
            self._changed.notify_all()
        if self.config.scratch_root is not None:
            shutil.rmtree(self.config.scratch_root, ignore_errors=True)  # what killed cells left

    @property
    def jobs(self) -> int:
        """Jobs in flight in all cells."""
        return sum(cell.load for cell in self._cells())

    def states(self) -> dict[str, int]:
        """Cells by state (every state named, zeros included), for the metrics."""
        counts = dict.fromkeys((state.value for state in CellState if state is not CellState.GONE), 0)
        for cell in self._cells():
            counts[cell.state.value] += 1
        return counts

    def census(self) -> list[dict[str, Any]]:
        """Each cell that is not gone: its name, group, state, pid, jobs in flight, and the pipelines of its group."""
        served: dict[str, list[str]] = collections.defaultdict(list)
        for pipeline, group in sorted(self.placed.items()):
            served[group].append(pipeline)
        return [
            {
                "name": cell.name,
                "group": cell.group,
                "state": cell.state.value,
                "pid": cell.pid,
                "jobs": cell.load,
                "pipelines": served.get(cell.group, []),
            }
            for cell in self._cells()
        ]

    def pids(self) -> set[int]:
        """The process ids of the cells that are not gone: serving, starting or draining."""
        return {cell.pid for cell in self._cells()}

    def cells_of(self, group: str) -> list[Cell]:
        found = self.groups.get(group)
        return list(found.cells) if found is not None else []

    async def replaced(self) -> None:
        """Wait until every group has its cells serving again (after some were ended)."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: all(len(group.serving()) >= group.spec.size for group in self.groups.values())
            )

    # -- builds --------------------------------------------------------------------------------------------------

    async def prepare(self, name: str, yaml_text: str) -> BuildInfo:
        """Build `yaml_text` (pipeline `name`) in every cell of the group that will serve it, under the build
        timeout; the cells keep the build for the runs to come. A definition that cannot build (or takes too
        long to) changes nothing: no cell that serves keeps it."""
        key = key_of(yaml_text)
        current = self.groups.get(self.placed.get(name, ""))
        try:
            async with asyncio.timeout(self.build_timeout) if self.build_timeout else contextlib.nullcontext():
                if current is not None:
                    info = await self._build_in(current, key, yaml_text)
                    spec = place(name, info, self.shared_size, self.cores)
                    if spec.name == current.spec.name:
                        self.placed[name] = spec.name
                        return info
                    await self._build_in(self._group_checked(spec, info), key, yaml_text)
                    self._drop_key(current, key)
                else:
                    info = await self._probe(name, key, yaml_text)
        except TimeoutError:
            seconds = self.build_timeout
            raise BuildTimeout(
                f"Building the definition took longer than {seconds:g} s (STACKYARD_BUILD_TIMEOUT); it was not applied."
            ) from None
        self.placed[name] = place(name, info, self.shared_size, self.cores).name
        return info

    async def _probe(self, name: str, key: str, yaml_text: str) -> BuildInfo:
        """A new pipeline is first built in a cell of its own: what it turns out to be decides its group, and the
        cell becomes that group's first if the group is its own (a model is then loaded once)."""
        spare = await self._spawn(Group(GroupSpec("probe", 1, own=True)))
        try:
            info = await self._ask_build(spare, key, yaml_text)
            spec = place(name, info, self.shared_size, self.cores)
            group = self._group_checked(spec, info)
            if not group.cells and not group.builds and spec.size >= 1:
                # The probe becomes the group's first cell: it holds the build already.
                spare.group = spec.name
                spare.state = CellState.SERVING
                group.cells.append(spare)
                group.builds[key] = yaml_text
                group.indexes = info.in_memory_indexes
                self._key_groups[key].add(spec.name)
                spare = None  # type: ignore[assignment]
                await self._fill(group)
            else:
                await self._build_in(group, key, yaml_text)
            return info
        finally:
            if spare is not None:
                spare.channel.close()
                self._in_background(self._wait_gone(spare, STOP_WAIT))

    def _group_checked(self, spec: GroupSpec, info: BuildInfo) -> Group:
        check_indexes(spec, {name: group.indexes for name, group in self.groups.items() if group.indexes})
        group = self._group(spec)
        group.indexes = info.in_memory_indexes or group.indexes
        return group

    async def _build_in(self, group: Group, key: str, yaml_text: str) -> BuildInfo:
        """Build in every cell of `group` (starting its cells first if it has none); answers the first's info."""
        if not group.cells:
            await self._fill(group)
        cells = [cell for cell in group.cells if cell.state in (CellState.SERVING, CellState.STARTING)]
        infos = await asyncio.gather(*(self._ask_build(cell, key, yaml_text) for cell in cells))
        group.builds[key] = yaml_text
        self._key_groups[key].add(group.spec.name)
        return infos[0]

    async def _ask_build(self, cell: Cell, key: str, yaml_text: str) -> BuildInfo:
        cell.building += 1
        try:
            answer = await self._send(cell, Prepare(yaml_text), key, None)
        except asyncio.CancelledError:
            # Past the build timeout (or its caller gone), the build goes on in a thread of the cell that nothing
            # can stop: the cell is replaced, so the build costs its neighbours no more than the timeout.
            self.recycle(cell, "a build did not finish in time")
            raise
        finally:
            cell.building -= 1
        if isinstance(answer, Failed):
            raise answer.problem.error()
        cell.keys.add(key)
        return msgspec.json.decode(answer.value, type=BuildInfo)

    def forget(self, key: str) -> None:
        """Drop the build under `key` from every cell that holds it; a group of one pipeline's own ends with it."""
        for name in list(self._key_groups.pop(key, ())):
            group = self.groups.get(name)
            if group is not None:
                self._drop_key(group, key)

    def _drop_key(self, group: Group, key: str) -> None:
        group.builds.pop(key, None)
        self._key_groups.get(key, set()).discard(group.spec.name)
        if not group.builds and group.spec.name != SHARED:
            self._in_background(self._end_group(group))
            return
        for cell in group.cells:
            if key in cell.keys:
                cell.keys.discard(key)
                self._in_background(self._tell_forget(cell, key))

    async def _tell_forget(self, cell: Cell, key: str) -> None:
        with contextlib.suppress(CellLost):
            await self._send(cell, Forget((key,)), None, None)

    async def _end_group(self, group: Group) -> None:
        self.groups.pop(group.spec.name, None)
        for pipeline, placed in list(self.placed.items()):
            if placed == group.spec.name:
                del self.placed[pipeline]
        for cell in group.cells:
            self._drain(cell)

    # -- jobs ----------------------------------------------------------------------------------------------------

    async def call(
        self,
        info: BuildInfo,
        job: Job,
        *,
        deadline: float,
        pipeline: str | None = None,
        on_end: tuple[Callable[[], None], ...] = (),
        on_chunk: OnChunk | None = None,
    ) -> Answer:
        """Do `job` on the build `info` describes, in a serving cell of its group, by `deadline` (monotonic).

        Answers the cell's answer (a problem in it is the caller's to raise). Past the deadline, `WorkTimedOut`.
        `on_end` is called once the job has really stopped (answered, or its cell ended), also when the caller
        gives up waiting, so a slot held for it is given back only then.
        """
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                for callback in on_end:
                    callback()

        while True:
            try:
                if pipeline is not None:
                    self._check_crashes(pipeline)
                cell = await self._pick(info.key, deadline)
                job_id, future = cell.channel.call(job, info.key, deadline, on_chunk)
            except BaseException:
                end()  # the job never started
                raise
            cell.deadlines[job_id] = deadline
            future.add_done_callback(functools.partial(self._after, cell, job_id, pipeline, end=end))
            try:
                async with asyncio.timeout_at(deadline):
                    return await asyncio.shield(future)
            except NotTaken:
                continue  # its cell stalled before it took the job: nothing ran, another cell takes it
            except asyncio.CancelledError:
                # The caller gave up (its client went away, the server stops): nobody wants the answer, so the job
                # is overdue now. It is cancelled; one that does not stop within its grace costs its cell.
                now = time.monotonic()
                if job_id in cell.deadlines:
                    cell.deadlines[job_id] = now
                cell.channel.tell(Cancel(job_id))
                self._in_background(self._overdue(cell, future, now))
                raise
            except TimeoutError:
                if future.done() and not future.cancelled() and future.exception() is None:
                    return future.result()  # it answered as time ran out
                cell.channel.tell(Cancel(job_id))
                self._in_background(self._overdue(cell, future, time.monotonic()))
                raise WorkTimedOut() from None
            except CellLost:
                raise self._lost_error(cell) from None

    async def examine(self, job: Examine, *, seconds: float, too_long: Callable[[], Exception]) -> Answer:
        """Do `job` (a throwaway build) in a cell of its own, ended afterwards: never one that serves."""
        async with self._examining:
            return await self._examine(job, seconds=seconds, too_long=too_long)

    async def _examine(self, job: Examine, *, seconds: float, too_long: Callable[[], Exception]) -> Answer:
        spare = await self._spawn(Group(GroupSpec("examine", 1, own=True)))
        try:
            async with asyncio.timeout(seconds):
                return await self._send(spare, job, key_of(job.yaml), time.monotonic() + seconds)
        except TimeoutError:
            raise too_long() from None
        except CellLost:
            raise self._lost_error(spare) from None
        finally:
            spare.kill()
            spare.channel.close()
            self._in_background(self._wait_gone(spare, STOP_WAIT))

    async def _send(self, cell: Cell, job: Job, key: str | None, deadline: float | None) -> Answer:
        _job_id, future = cell.channel.call(job, key, deadline)
        return await future

    async def _pick(self, key: str, deadline: float) -> Cell:
        """The serving cell holding `key` with the fewest jobs in flight; waits (until `deadline`) while its
        group has none serving (all being replaced), then answers 503."""
        async with self._changed:
            while True:
                if self._closed:
                    raise RunFailed("The server is shutting down; no work is taken any more.")
                best: Cell | None = None
                for name in self._key_groups.get(key, ()):
                    group = self.groups.get(name)
                    for cell in group.serving() if group is not None else ():
                        if key in cell.keys and not cell.channel.lost and (best is None or cell.load < best.load):
                            best = cell
                if best is not None:
                    return best
                try:
                    async with asyncio.timeout_at(deadline):
                        await self._changed.wait()
                except TimeoutError:
                    raise RunNotStarted(
                        "No cell could take the run before its deadline (its cells are being replaced); retry shortly."
                    ) from None

    def _after(
        self, cell: Cell, job_id: int, pipeline: str | None, future: asyncio.Future[Answer], *, end: Callable[[], None]
    ) -> None:
        cell.deadlines.pop(job_id, None)
        untaken = not future.cancelled() and isinstance(future.exception(), NotTaken)
        try:
            # A job not taken goes elsewhere: it has not ended, and its cell's end is not its pipeline's doing.
            failed = future.cancelled() or future.exception() is not None
            if failed and not untaken and pipeline is not None:
                self._crashes[pipeline].append(time.monotonic())
            # A draining cell ends once every job is answered or overdue (a job past its deadline that has not
            # stopped is why cells are recycled: it is not waited for).
            now = time.monotonic()
            if cell.state is CellState.DRAINING and all(deadline <= now for deadline in cell.deadlines.values()):
                self._end(cell)
        finally:
            if not untaken:
                end()

    async def _overdue(self, cell: Cell, future: asyncio.Future[Answer], since: float) -> None:
        """A job was cancelled: if it is still running `GRACE` seconds later, its cell cannot stop it."""
        with contextlib.suppress(TimeoutError, CellLost, asyncio.CancelledError):
            async with asyncio.timeout_at(max(since, time.monotonic()) + GRACE):
                await asyncio.shield(future)
            return
        if not future.done():
            log.warning("cell %s did not stop a job past its deadline; it is replaced", cell.name)
            self.recycle(cell, "a job did not stop past its deadline")

    def _check_crashes(self, pipeline: str) -> None:
        times = self._crashes.get(pipeline)
        if not times:
            return
        now = time.monotonic()
        while times and times[0] < now - CRASH_WINDOW:
            times.popleft()
        if len(times) >= CRASHES:
            wait = int(times[0] + CRASH_WINDOW - now) + 1
            raise PipelineCrashing(
                f"Pipeline '{pipeline}' had {len(times)} runs end with their cell within {CRASH_WINDOW:g} s; its runs "
                f"are refused for up to {wait} s so that it cannot keep taking cells down."
            )

    def _lost_error(self, cell: Cell) -> StackyardError:
        code = cell.exit_status()
        if cell.retire_reason is not None:
            return RunFailed(f"The cell doing the work ended: {cell.retire_reason}.")
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}" if code else "ended"
        return RunFailed(f"The cell doing the work ended ({how}); the work did not finish.")

    # -- cells ---------------------------------------------------------------------------------------------------

    def _group(self, spec: GroupSpec) -> Group:
        group = self.groups.get(spec.name)
        if group is None:
            group = self.groups[spec.name] = Group(spec)
        return group

    def _spawner(self, threads: int) -> Spawner:
        spawner = self._spawners.get(threads)
        if spawner is None:
            config = dataclasses.replace(self.config, compute_threads=threads)
            spawner = self._spawners[threads] = Spawner(config)
        return spawner

    async def _spawn(self, group: Group) -> Cell:
        name = f"{group.spec.name}-{next(self._names)}"
        spawner = self._spawner(compute_threads(group.spec, self.cores))
        cell = await spawner.start(name, group.spec.name)
        self._in_background(self._follow(cell))
        return cell

    async def _follow(self, cell: Cell) -> None:
        """What the cell says about itself: a request to retire, then (or at once) its end."""
        channel = cell.channel
        await asyncio.wait((channel.retiring, channel.closed), return_when=asyncio.FIRST_COMPLETED)
        if channel.retiring.done() and not channel.closed.done():
            self._retired(cell, channel.retiring.result())
            await channel.closed
        self._died(cell)

    async def _fill(self, group: Group) -> None:
        """Start cells until the group has its size, each built with every build of the group before it serves."""
        alive = [cell for cell in group.cells if cell.state in (CellState.STARTING, CellState.SERVING)]
        missing = group.spec.size - len(alive) - group.starting
        if missing <= 0:
            return
        group.starting += missing
        try:
            await asyncio.gather(*(self._add_cell(group) for _ in range(missing)))
        finally:
            group.starting -= missing

    async def _add_cell(self, group: Group) -> None:
        try:
            cell = await self._spawn(group)
        except (OSError, EOFError) as error:  # no process could be started (no memory, no fork server)
            log.error("a cell of group %s could not be started (%s); retried in a second", group.spec.name, error)
            if not self._closed:
                self._in_background(self._fill_later(group))
            return
        group.cells.append(cell)
        try:
            for key, yaml_text in list(group.builds.items()):
                await self._ask_build(cell, key, yaml_text)
        except (StackyardError, CellLost):
            log.exception("a new cell of group %s could not build what its group serves", group.spec.name)
            self._end(cell)
            return
        if cell.state is CellState.STARTING:
            cell.state = CellState.SERVING
        async with self._changed:
            self._changed.notify_all()

    async def _fill_later(self, group: Group) -> None:
        await asyncio.sleep(1.0)
        if not self._closed and self.groups.get(group.spec.name) is group:
            await self._fill(group)

    def recycle(self, cell: Cell, reason: str) -> None:
        """Replace `cell`: a new one is started and built; this one takes no new job and ends once its jobs are
        answered or past their deadlines."""
        if cell.state in (CellState.DRAINING, CellState.GONE):
            return
        cell.retire_reason = reason
        self._drain(cell)
        group = self.groups.get(cell.group)
        if group is not None and not self._closed:
            self._in_background(self._fill(group))

    def _drain(self, cell: Cell) -> None:
        if cell.state is CellState.GONE:
            return
        cell.state = CellState.DRAINING
        if not cell.deadlines:
            self._end(cell)
            return
        self._in_background(self._end_at(cell, max(cell.deadlines.values()) + GRACE))

    async def _end_at(self, cell: Cell, when: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(when):
                await asyncio.shield(cell.ended)
        self._end(cell)

    def _end(self, cell: Cell) -> None:
        """End a cell now: its socket closed (it exits at once), killed if it has not gone `STOP_WAIT` later."""
        cell.channel.close()
        self._in_background(self._wait_gone(cell, STOP_WAIT))

    async def _wait_gone(self, cell: Cell, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await asyncio.shield(cell.ended)
        if not cell.ended.done():
            cell.kill()
            await asyncio.shield(cell.ended)
        self._forget_cell(cell)

    def _retired(self, cell: Cell, reason: str) -> None:
        log.warning("cell %s asks to retire: %s", cell.name, reason)
        self.recycle(cell, reason)

    def _died(self, cell: Cell) -> None:
        """The cell's socket closed: it ended (or was ended). Its group gets a replacement."""
        if cell.state is CellState.GONE:
            return
        unexpected = cell.state is not CellState.DRAINING and not self._closed
        cell.state = CellState.DRAINING
        self._in_background(self._wait_gone(cell, STOP_WAIT))
        group = self.groups.get(cell.group)
        if unexpected and group is not None and cell in group.cells:
            log.warning("cell %s (pid %s) ended unexpectedly; a replacement is started", cell.name, cell.pid)
            self._in_background(self._fill(group))

    def _forget_cell(self, cell: Cell) -> None:
        if cell.state is CellState.GONE:
            return
        cell.state = CellState.GONE
        close_pidfd(cell)
        group = self.groups.get(cell.group)
        if group is not None and cell in group.cells:
            group.cells.remove(cell)
        self._in_background(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _cells(self) -> list[Cell]:
        return [cell for group in self.groups.values() for cell in group.cells if cell.state is not CellState.GONE]

    def _in_background(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
