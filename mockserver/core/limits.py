"""Rate limits per API key on the virtual clock. Plain Python, no HTTP.

Two limits, as the provider documents them: requests per minute (a sliding window of
the requests let through) and concurrent unfinished tasks. A refusal says how long
until a slot frees, which becomes the 429's Retry-After.

Both stay cheap per request: the window is a deque trimmed from the left, and the
unfinished tasks of a key sit in a heap by end time, reaped lazily; nothing scans
every task. The window counts requests per virtual millisecond, so its size is bounded
by time (at most one bucket per ms of the minute), not by how many requests came: a
manual clock that never moves would otherwise keep every request forever.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque

from mockserver.core.tasks import Task

__all__ = ["DEFAULT_CONCURRENT_TASKS", "DEFAULT_REQUESTS_PER_MINUTE", "Limits", "end_time"]

DEFAULT_REQUESTS_PER_MINUTE = 10_000
DEFAULT_CONCURRENT_TASKS = 1_000
WINDOW_MS = 60_000


def end_time(task: Task) -> int | None:
    """When the task becomes terminal, if known yet (poll-driven: once its last poll came)."""
    ends: list[int] = []
    if task.forced_ms is not None:
        ends.append(task.forced_ms)
    end = task.end_ms if task.progression == "time" else task.poll_done_ms
    if end is not None:
        ends.append(end)
    return min(ends) if ends else None


class _Window:
    """One key's requests in the last minute: [virtual ms, count] buckets, oldest first."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()
        self.total = 0


class _KeyTasks:
    """One key's unfinished tasks: task id -> end time (None: unknown), and a heap of known ends."""

    __slots__ = ("ends", "heap")

    def __init__(self) -> None:
        self.ends: dict[str, int | None] = {}
        self.heap: list[tuple[int, int, str]] = []


class Limits:
    __slots__ = ("requests_per_minute", "concurrent_tasks", "_windows", "_tasks", "_seq")

    def __init__(
        self,
        requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
        concurrent_tasks: int = DEFAULT_CONCURRENT_TASKS,
    ) -> None:
        if requests_per_minute < 1 or concurrent_tasks < 1:
            raise ValueError("limits must be >= 1")
        self.requests_per_minute = requests_per_minute
        self.concurrent_tasks = concurrent_tasks
        self._windows: dict[str, _Window] = {}
        self._tasks: dict[str, _KeyTasks] = {}
        self._seq = itertools.count()

    # -- requests per minute ---------------------------------------------------

    def admit(self, key: str, now: int) -> int | None:
        """Let one request through (None), or refuse it: the ms until the window has room."""
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
        buckets = window.buckets
        horizon = now - WINDOW_MS
        while buckets and buckets[0][0] <= horizon:
            window.total -= buckets.popleft()[1]
        if window.total >= self.requests_per_minute:
            # The oldest requests in the window leave it WINDOW_MS after they came.
            return buckets[0][0] + WINDOW_MS - now
        if buckets and buckets[-1][0] == now:
            buckets[-1][1] += 1
        else:
            buckets.append([now, 1])
        window.total += 1
        return None

    # -- concurrent tasks ------------------------------------------------------

    def unfinished(self, key: str, now: int) -> int:
        """How many of the key's tracked tasks are unfinished at ``now``."""
        entry = self._tasks.get(key)
        if entry is None:
            return 0
        self._reap(entry, now)
        return len(entry.ends)

    def slot_wait(self, key: str, now: int) -> int | None:
        """None if the key may start a task; else ms until one of its tasks ends (-1: unknown)."""
        entry = self._tasks.get(key)
        if entry is None:
            return None
        self._reap(entry, now)
        if len(entry.ends) < self.concurrent_tasks:
            return None
        while entry.heap and entry.ends.get(entry.heap[0][2], -1) != entry.heap[0][0]:
            heapq.heappop(entry.heap)  # stale: the task's end moved
        return entry.heap[0][0] - now if entry.heap else -1

    def track(self, task: Task) -> None:
        """Count a new task against its key until it ends."""
        entry = self._tasks.get(task.key)
        if entry is None:
            entry = self._tasks[task.key] = _KeyTasks()
        self._set_end(entry, task)

    def update(self, task: Task) -> None:
        """The task's end moved (forced, failed early, or its last poll came)."""
        entry = self._tasks.get(task.key)
        if entry is not None and task.task_id in entry.ends:
            self._set_end(entry, task)

    def _set_end(self, entry: _KeyTasks, task: Task) -> None:
        end = end_time(task)
        entry.ends[task.task_id] = end
        if end is not None:
            heapq.heappush(entry.heap, (end, next(self._seq), task.task_id))

    @staticmethod
    def _reap(entry: _KeyTasks, now: int) -> None:
        heap = entry.heap
        while heap and heap[0][0] <= now:
            end, _, task_id = heapq.heappop(heap)
            if entry.ends.get(task_id, -1) == end:
                del entry.ends[task_id]
