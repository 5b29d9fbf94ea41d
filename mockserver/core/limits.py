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
from collections import deque

from mockserver.core.tasks import UNTRACKED, Task, end_time

__all__ = ["DEFAULT_CONCURRENT_TASKS", "DEFAULT_REQUESTS_PER_MINUTE", "Limits", "end_time"]

DEFAULT_REQUESTS_PER_MINUTE = 10_000
DEFAULT_CONCURRENT_TASKS = 1_000
WINDOW_MS = 60_000
# Windows of keys that stopped sending are dropped in one scan whenever the number of keys has
# doubled since the last one (and is past this floor): amortised O(1) a new key, nothing per request.
SCAN_FLOOR = 1024
SHARED_ENDS = 16_384  # distinct end times shared at once (Limits._ends)


class _Window:
    """One key's requests in the last minute: [virtual ms, count] buckets, oldest first."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()
        self.total = 0


class _KeyTasks:
    """One key's unfinished tasks: how many, a heap of their known end times, how many have no
    known end yet, and ends that moved (lazily deleted from the heap: equal times are alike).

    Nothing per task but its end on the heap (the task itself remembers which end it counted,
    ``Task.limit_end``), so a million tasks cost a heap slot each, not an entry and a tuple."""

    __slots__ = ("count", "heap", "unknown", "moved", "reaped_to")

    def __init__(self) -> None:
        self.count = 0
        self.heap: list[int] = []
        self.unknown = 0
        self.moved: dict[int, int] = {}
        self.reaped_to = -1  # ends up to here have been counted out


class Limits:
    __slots__ = ("requests_per_minute", "concurrent_tasks", "_windows", "_tasks", "_scan_at", "_ends")

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
        self._scan_at = SCAN_FLOOR
        # Equal end times share one int (tasks submitted together end together on a clock that
        # waits): bounded, emptied when full.
        self._ends: dict[int, int] = {}

    # -- requests per minute ---------------------------------------------------

    def admit(self, key: str, now: int) -> int | None:
        """Let one request through (None), or refuse it: the ms until the window has room."""
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._scan_at:
                self._drop_idle_windows(now)
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

    def _drop_idle_windows(self, now: int) -> None:
        """Forget the windows whose newest request left the minute: they would count nothing."""
        horizon = now - WINDOW_MS
        idle = [key for key, w in self._windows.items() if not w.buckets or w.buckets[-1][0] <= horizon]
        for key in idle:
            del self._windows[key]
        self._scan_at = max(SCAN_FLOOR, 2 * len(self._windows))

    # -- concurrent tasks ------------------------------------------------------

    def unfinished(self, key: str, now: int) -> int:
        """How many of the key's tracked tasks are unfinished at ``now``."""
        entry = self._tasks.get(key)
        if entry is None:
            return 0
        self._reap(entry, now)
        return entry.count

    def slot_wait(self, key: str, now: int) -> int | None:
        """None if the key may start a task; else ms until one of its tasks ends (-1: unknown)."""
        entry = self._tasks.get(key)
        if entry is None:
            return None
        self._reap(entry, now)
        if entry.count < self.concurrent_tasks:
            return None
        heap, moved = entry.heap, entry.moved
        while heap and heap[0] in moved:
            _consume(moved, heapq.heappop(heap))  # stale: some task's end moved from there
        return heap[0] - now if heap else -1

    def track(self, task: Task) -> None:
        """Count a new task against its key until it ends."""
        entry = self._tasks.get(task.key)
        if entry is None:
            entry = self._tasks[task.key] = _KeyTasks()
        end = end_time(task)
        if end is not None:
            if len(self._ends) >= SHARED_ENDS:
                self._ends.clear()
            end = self._ends.setdefault(end, end)
        task.limit_end = end
        entry.count += 1
        if end is None:
            entry.unknown += 1
        else:
            heapq.heappush(entry.heap, end)

    def update(self, task: Task) -> None:
        """The task's end moved (forced, failed early, or its last poll came)."""
        entry = self._tasks.get(task.key)
        old = task.limit_end
        if entry is None or old == UNTRACKED or (old is not None and old <= entry.reaped_to):
            return  # not counted, or counted out already
        end = end_time(task)
        if end == old:
            return
        task.limit_end = end
        if old is None:
            entry.unknown -= 1
        else:
            entry.moved[old] = entry.moved.get(old, 0) + 1
        if end is None:
            entry.unknown += 1
        else:
            heapq.heappush(entry.heap, end)

    def forget(self, task: Task) -> None:
        """The task is gone (evicted): one that never got a known end stops counting."""
        entry = self._tasks.get(task.key)
        if entry is not None and task.limit_end is None:
            entry.unknown -= 1
            entry.count -= 1
        task.limit_end = UNTRACKED

    def forget_key(self, key: str, now: int) -> None:
        """The key's last task was evicted: nothing of it is unfinished, and its window goes too
        once it counts nothing."""
        self._tasks.pop(key, None)
        window = self._windows.get(key)
        if window is not None and (not window.buckets or window.buckets[-1][0] <= now - WINDOW_MS):
            del self._windows[key]

    def keys(self) -> int:
        """Keys with some state here (rate windows or tracked tasks): bounded by time, not traffic."""
        return len(self._windows.keys() | self._tasks.keys())

    @staticmethod
    def _reap(entry: _KeyTasks, now: int) -> None:
        heap, moved = entry.heap, entry.moved
        while heap and heap[0] <= now:
            end = heapq.heappop(heap)
            if end in moved:
                _consume(moved, end)
            else:
                entry.count -= 1
        if now > entry.reaped_to:
            entry.reaped_to = now


def _consume(moved: dict[int, int], end: int) -> None:
    left = moved[end] - 1
    if left:
        moved[end] = left
    else:
        del moved[end]
