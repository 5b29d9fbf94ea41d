"""Tasks and their lifecycle. Plain Python: no HTTP here.

A task's state is a pure function of (task, now, polls): nothing advances it in the
background and reading it never changes it. The only thing a status poll records
is that it happened (the poll count, and for poll-driven tasks the moment the
terminal poll arrived), because that *is* the input of poll progression.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass

from mockserver.core.media import MediaSpec
from mockserver.core.words import FAILED, PENDING, PROCESSING, SUCCESS, TERMINAL

__all__ = ["FAILED", "PENDING", "PROCESSING", "SUCCESS", "TERMINAL", "Task", "TaskStore", "end_time", "state_at"]

# Ids of evicted tasks remembered (with when and whose), so that a late poll or an admin read hears
# "evicted" rather than "never existed"; older ones are forgotten like any unknown id.
EVICTED_KEPT = 10_000
UNTRACKED = -1  # Task.limit_end of a task the rate limits do not count (times are never negative)


@dataclass(slots=True, eq=False)
class Task:
    task_id: str
    model: str
    dialect: str  # the name of the dialect that created it (and speaks for it)
    key: str
    created_ms: int
    pending_ms: int
    processing_ms: int
    outputs: int
    spec: MediaSpec
    seed: int
    cost: float = 0.0
    request_type: str = "async"
    callback_url: str | None = None
    provider: str = "auto"
    prompt: str | None = None  # input.prompt, for scenario rules that match on it
    progression: str = "time"  # "time" or "polls"
    pending_polls: int = 1
    processing_polls: int = 1
    # A planned failure: the task ends failed with this code instead of succeeding.
    fail_code: str | None = None
    fail_msg: str | None = None
    fail_at: str = PROCESSING  # "pending": fails before it starts processing
    # An admin override: the task ends (success or failed) at forced_ms.
    forced_ms: int | None = None
    polls: int = 0
    poll_done_ms: int | None = None
    refunded: bool = False
    # The end time the concurrency limit counted this task with (None: unknown yet; core/limits.py).
    limit_end: int | None = UNTRACKED

    @property
    def end_ms(self) -> int | None:
        """When a time-driven task ends on its own (None for poll-driven tasks)."""
        if self.progression != "time":
            return None
        if self.fail_code is not None and self.fail_at == PENDING:
            return self.created_ms + self.pending_ms
        return self.created_ms + self.pending_ms + self.processing_ms

    @property
    def terminal_polls(self) -> int:
        """The poll count after which a poll-driven task is terminal."""
        if self.fail_code is not None and self.fail_at == PENDING:
            return self.pending_polls
        return self.pending_polls + self.processing_polls

    def outcome(self) -> str:
        return FAILED if self.fail_code is not None else SUCCESS


def state_at(task: Task, now: int, polls: int | None = None) -> tuple[str, int | None]:
    """The task's (state, completeTime or None) at ``now`` after ``polls`` status polls."""
    if task.forced_ms is not None and now >= task.forced_ms:
        return task.outcome(), task.forced_ms
    if task.progression == "time":
        end = task.end_ms
        assert end is not None
        if now >= end:
            return task.outcome(), end
        if now >= task.created_ms + task.pending_ms:
            return PROCESSING, None
        return PENDING, None
    n = task.polls if polls is None else polls
    if n > task.terminal_polls and task.poll_done_ms is not None:
        return task.outcome(), task.poll_done_ms
    if n > task.pending_polls and not (task.fail_code is not None and task.fail_at == PENDING):
        return PROCESSING, None
    return PENDING, None


def record_poll(task: Task, now: int) -> None:
    """Count one status poll; the poll that makes a poll-driven task terminal stamps the time."""
    task.polls += 1
    if task.poll_done_ms is None and task.progression == "polls" and task.polls > task.terminal_polls:
        task.poll_done_ms = now


def next_event_ms(task: Task, now: int) -> int | None:
    """The next moment after ``now`` at which this task's state changes by time alone."""
    if task.forced_ms is not None:
        return task.forced_ms if task.forced_ms > now else None
    if task.progression != "time":
        return None
    start = task.created_ms + task.pending_ms
    end = task.end_ms
    assert end is not None
    if now < start and end > start:
        return start
    return end if now < end else None


def end_time(task: Task) -> int | None:
    """When the task becomes terminal, if known yet (poll-driven: once its last poll came)."""
    end = task.end_ms if task.progression == "time" else task.poll_done_ms
    forced = task.forced_ms
    if forced is not None and (end is None or forced < end):
        return forced
    return end


def keep_until(task: Task, keep_ms: int) -> int:
    """When ``task`` may be evicted: ``keep_ms`` after its end, or after its creation while its
    end is unknown (a poll-driven task nobody polled to its end)."""
    end = end_time(task)
    return (task.created_ms if end is None else end) + keep_ms


class Evicted:
    """What is remembered of an evicted task: whose it was, and when it went."""

    __slots__ = ("key", "dialect", "model", "evicted_ms")

    def __init__(self, task: Task, evicted_ms: int) -> None:
        self.key = task.key
        self.dialect = task.dialect
        self.model = task.model
        self.evicted_ms = evicted_ms


class TaskStore:
    """Every task by id, plus the idempotency records that point at them.

    Eviction walks the tasks in creation order: since a task is kept at least ``keep_ms`` after
    its creation, the walk stops at the first task created less than that ago. A task older
    than that which has not ended long enough (its processing, or polls, took a while) waits on
    a heap by its own due time; so each task is looked at a bounded number of times, and no
    timer runs per task.
    """

    __slots__ = (
        "tasks",
        "idempotency",
        "_idem_of",
        "_order",
        "_waiting",
        "_seq",
        "per_key",
        "evicted",
        "evicted_total",
    )

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        # (account key, dialect, Idempotency-Key) -> (request fingerprint, task id)
        self.idempotency: dict[tuple[str, str, str], tuple[str, str]] = {}
        # task id -> its idempotency record's key: only tasks submitted with an Idempotency-Key
        self._idem_of: dict[str, tuple[str, str, str]] = {}
        self._order: deque[Task] = deque()  # creation order, for eviction
        self._waiting: list[tuple[int, int, Task]] = []  # (due, seq, task): old but not due yet
        self._seq = itertools.count()
        self.per_key: dict[str, int] = {}  # live tasks per account key
        self.evicted: OrderedDict[str, Evicted] = OrderedDict()  # the newest EVICTED_KEPT
        self.evicted_total = 0

    def add(self, task: Task) -> None:
        self.tasks[task.task_id] = task
        self._order.append(task)
        per_key = self.per_key
        per_key[task.key] = per_key.get(task.key, 0) + 1

    def remember_idempotency(self, record: tuple[str, str, str], fingerprint: str, task: Task) -> None:
        self.idempotency[record] = (fingerprint, task.task_id)
        self._idem_of[task.task_id] = record

    def pop_due(self, now: int, keep_ms: int) -> list[Task]:
        """Remove and return the tasks kept ``keep_ms`` past their end (see ``keep_until``)."""
        out: list[Task] = []
        order, waiting, tasks = self._order, self._waiting, self.tasks
        horizon = now - keep_ms
        while order and order[0].created_ms <= horizon:
            task = order.popleft()
            if tasks.get(task.task_id) is not task:
                continue
            due = keep_until(task, keep_ms)
            if due <= now:
                out.append(task)
            else:
                heapq.heappush(waiting, (due, next(self._seq), task))
        while waiting and waiting[0][0] <= now:
            task = heapq.heappop(waiting)[2]
            if tasks.get(task.task_id) is not task:
                continue
            due = keep_until(task, keep_ms)  # its end may have moved since
            if due <= now:
                out.append(task)
            else:
                heapq.heappush(waiting, (due, next(self._seq), task))
        for task in out:
            self._remove(task, now)
        return out

    def _remove(self, task: Task, now: int) -> None:
        task_id = task.task_id
        del self.tasks[task_id]
        record = self._idem_of.pop(task_id, None)
        if record is not None:
            seen = self.idempotency.get(record)
            if seen is not None and seen[1] == task_id:
                del self.idempotency[record]
        left = self.per_key[task.key] - 1
        if left:
            self.per_key[task.key] = left
        else:
            del self.per_key[task.key]
        self.evicted[task_id] = Evicted(task, now)
        self.evicted_total += 1
        if len(self.evicted) > EVICTED_KEPT:
            self.evicted.popitem(last=False)

    def get(self, task_id: str) -> Task | None:
        return self.tasks.get(task_id)

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self):
        return iter(self.tasks.values())
