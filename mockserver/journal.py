"""The request journal: a bounded ring buffer of every client request and its answer."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

DEFAULT_SIZE = 10_000


@dataclass(slots=True)
class Entry:
    id: int
    time: int  # virtual time, epoch ms
    method: str
    path: str
    query: str
    key: str | None
    status: int
    taskId: str | None = None
    model: str | None = None
    error: str | None = None
    idempotencyKey: str | None = None
    retryAfter: float | None = None
    rule: int | None = None  # the scenario rule that acted on this request
    fault: str | None = None  # the network fault it got (status 0: no response at all)

    def to_dict(self) -> dict:
        return asdict(self)


class Journal:
    """Keeps the newest ``size`` entries; ``dropped`` counts what fell off the end."""

    __slots__ = ("_entries", "_next_id", "dropped")

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError(f"journal size must be >= 1, got {size}")
        self._entries: deque[Entry] = deque(maxlen=size)
        self._next_id = 1
        self.dropped = 0

    @property
    def size(self) -> int:
        return self._entries.maxlen or 0

    def record(self, **fields: object) -> Entry:
        if len(self._entries) == self._entries.maxlen:
            self.dropped += 1
        entry = Entry(id=self._next_id, **fields)  # type: ignore[arg-type]
        self._next_id += 1
        self._entries.append(entry)
        return entry

    def entries(self, since: int = 0, limit: int | None = None) -> list[Entry]:
        """Entries with id > since, oldest first, at most ``limit`` of the newest."""
        out = [e for e in self._entries if e.id > since]
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return out

    def clear(self) -> None:
        self._entries.clear()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._entries)
