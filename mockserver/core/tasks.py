"""Tasks and their lifecycle. Plain Python: no HTTP here.

A task's state is a pure function of (task, now, polls): nothing advances it in the
background and reading it never changes it. The only thing a status poll records
is that it happened (the poll count, and for poll-driven tasks the moment the
terminal poll arrived), because that *is* the input of poll progression.
"""

from __future__ import annotations

from dataclasses import dataclass

from mockserver.core.media import MediaSpec
from mockserver.core.words import FAILED, PENDING, PROCESSING, SUCCESS, TERMINAL

__all__ = ["FAILED", "PENDING", "PROCESSING", "SUCCESS", "TERMINAL", "Task", "TaskStore", "state_at"]


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


class TaskStore:
    """Every task by id, plus the idempotency records that point at them."""

    __slots__ = ("tasks", "idempotency")

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        # (api key, Idempotency-Key) -> (request fingerprint, task id)
        # (account key, dialect, Idempotency-Key) -> (request fingerprint, task id)
        self.idempotency: dict[tuple[str, str, str], tuple[str, str]] = {}

    def add(self, task: Task) -> None:
        self.tasks[task.task_id] = task

    def get(self, task_id: str) -> Task | None:
        return self.tasks.get(task_id)

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self):
        return iter(self.tasks.values())
