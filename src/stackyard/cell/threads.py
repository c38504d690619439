"""The threads of a cell, shared fairly between the pipelines it serves.

At most `size` jobs run at once. Beyond that, each build (a pipeline revision) waits in a line of its own, and a
thread that frees up takes the next job from the next line in turn: a pipeline that sends a hundred slow runs
delays another pipeline's run by one job's turn, not by a hundred.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

Job = Callable[[], None]


class FairThreads:
    def __init__(self, size: int, name: str = "stackyard-job") -> None:
        self.size = size
        self._pool = ThreadPoolExecutor(size, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._running = 0
        self._lines: collections.OrderedDict[str, collections.deque[Job]] = collections.OrderedDict()

    @property
    def waiting(self) -> int:
        with self._lock:
            return sum(len(line) for line in self._lines.values())

    def submit(self, line: str, job: Job) -> None:
        """Run `job` now if a thread is free, else once its line's turn comes."""
        with self._lock:
            if self._running >= self.size:
                self._lines.setdefault(line, collections.deque()).append(job)
                return
            self._running += 1
        self._pool.submit(self._work, job)

    def _work(self, job: Job) -> None:
        while True:
            try:
                job()
            except BaseException:  # a job answers its own failures; one that does not must not stop the thread
                log.exception("a job of this cell failed unanswered")
            with self._lock:
                if not self._lines:
                    self._running -= 1
                    return
                line, jobs = next(iter(self._lines.items()))
                job = jobs.popleft()
                if jobs:
                    self._lines.move_to_end(line)  # its next job waits for the other lines' turns
                else:
                    del self._lines[line]
