"""The callback log: every delivery attempt, newest kept (like the journal)."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, fields

from mockserver.core.words import camel


@dataclass(slots=True)
class Attempt:
    id: int
    task_id: str
    url: str
    stage: str | None
    webhook_id: str
    attempt: int
    time: int  # virtual epoch ms when the attempt started
    outcome: str  # delivered | failed | dropped | delayed
    status: int | None = None
    error: str | None = None
    duration_ms: float | None = None  # real milliseconds the receiver took
    duplicate: bool = False  # the second copy of a duplicated delivery
    delay_ms: int | None = None
    next_attempt_at: int | None = None  # virtual time of the retry, None when this was the last word

    def to_dict(self) -> dict:
        """As the admin API shows it: the same fields in camelCase."""
        return {camel(f.name): getattr(self, f.name) for f in fields(self)}


class CallbackLog:
    """Every delivery attempt, newest ``size`` kept (like the journal)."""

    __slots__ = ("_entries", "_ids", "dropped")

    def __init__(self, size: int) -> None:
        self._entries: deque[Attempt] = deque(maxlen=max(1, size))
        self._ids = itertools.count(1)
        self.dropped = 0

    @property
    def size(self) -> int:
        return self._entries.maxlen or 0

    def record(self, **fields: object) -> Attempt:
        if len(self._entries) == self._entries.maxlen:
            self.dropped += 1
        entry = Attempt(id=next(self._ids), **fields)  # type: ignore[arg-type]
        self._entries.append(entry)
        return entry

    def entries(self, since: int = 0, limit: int | None = None, task_id: str | None = None) -> list[Attempt]:
        out = [e for e in self._entries if e.id > since and (task_id is None or e.task_id == task_id)]
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return out

    def __len__(self) -> int:
        return len(self._entries)
