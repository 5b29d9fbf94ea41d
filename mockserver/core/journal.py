"""The request journal: a bounded ring buffer of every client request and its answer."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from mockserver.core.words import camel

DEFAULT_SIZE = 10_000
BODY_KEPT = 2048  # bytes of each request body kept: a submit fits, a 10 MB upload does not


@dataclass(slots=True)
class Entry:
    id: int
    time: int  # virtual time, epoch ms, when the answer was complete
    method: str
    path: str
    query: str
    key: str | None
    status: int
    task_id: str | None = None
    model: str | None = None
    error: str | None = None
    idempotency_key: str | None = None
    retry_after: float | None = None
    # Arrival number: requests are numbered as they arrive, so a request that arrived
    # before another's answer went out (in flight in parallel) can be told from one
    # sent after it, even when a manual clock gives both the same time. 0 = unknown.
    arrival: int = 0
    # A short hash of the request body, when the app read it whole (None otherwise):
    # tells "the same request again" from a corrected one.
    body_hash: str | None = None
    # The task state a status poll answered with (pending, processing, success, failed).
    state: str | None = None
    rule: int | None = None  # the scenario rule that acted on this request
    fault: str | None = None  # the network fault it got (status 0: no response at all)
    # The start of the request body as text (at most BODY_KEPT bytes; body_truncated says
    # when there was more), so a failure report can show a curl line that repeats it.
    body: str | None = None
    body_truncated: bool = False

    def to_dict(self) -> dict:
        """As the admin API shows it: the same fields in camelCase."""
        return {name: getattr(self, attr) for attr, name in _WIRE_NAMES}


_WIRE_NAMES = tuple((f.name, camel(f.name)) for f in fields(Entry))

# Told of each entry as it is recorded, with the number of requests arrived so far.
Observer = Callable[[Entry, int], None]
# Told of each entry as it is recorded (the live event stream, http/events.py).
Listener = Callable[[Entry], None]


class Journal:
    """Keeps the newest ``size`` entries; ``dropped`` counts what fell off the end.

    An ``observer`` sees every entry as it is recorded, so analyses built on the
    journal (the conformance report) need not re-read it and survive it wrapping.
    ``listen`` adds more (the live event stream); with none, ``record`` calls the observer
    alone, so a stream nobody reads costs the request path nothing.
    """

    __slots__ = ("_entries", "_next_id", "dropped", "arrivals", "_observer", "_primary", "_listeners")

    def __init__(self, size: int = DEFAULT_SIZE, observer: Observer | None = None) -> None:
        if size < 1:
            raise ValueError(f"journal size must be >= 1, got {size}")
        self._entries: deque[Entry] = deque(maxlen=size)
        self._next_id = 1
        self.dropped = 0
        self.arrivals = 0
        self._observer = observer
        self._primary = observer
        self._listeners: tuple[Listener, ...] = ()

    @property
    def size(self) -> int:
        return self._entries.maxlen or 0

    @property
    def next_id(self) -> int:
        return self._next_id

    @property
    def first_id(self) -> int | None:
        """The oldest entry still kept (older ids have been dropped)."""
        return self._entries[0].id if self._entries else None

    def arrive(self) -> int:
        """Number a request as it arrives (see Entry.arrival)."""
        self.arrivals += 1
        return self.arrivals

    def record(
        self,
        *,
        time: int,
        method: str,
        path: str,
        query: str,
        key: str | None,
        status: int,
        task_id: str | None = None,
        model: str | None = None,
        error: str | None = None,
        idempotency_key: str | None = None,
        retry_after: float | None = None,
        arrival: int = 0,
        body_hash: str | None = None,
        state: str | None = None,
        rule: int | None = None,
        fault: str | None = None,
        body: str | None = None,
        body_truncated: bool = False,
        observe: bool = True,
    ) -> Entry:
        """Record one request and its answer (see Entry for the fields).

        ``observe=False``: a note of the mock's own (an eviction), not a client request: kept and
        streamed to listeners, but not graded by the observer (the conformance report)."""
        return self.append(
            time,
            method,
            path,
            query,
            key,
            status,
            task_id,
            model,
            error,
            idempotency_key,
            retry_after,
            arrival,
            body_hash,
            state,
            rule,
            fault,
            body,
            body_truncated,
            observe=observe,
        )

    def append(self, *fields: Any, observe: bool = True) -> Entry:
        """``record`` with Entry's fields after its id, positionally and in Entry's order, for the
        request path (every client request comes through here: a call with nineteen named
        arguments costs more than the entry)."""
        entries = self._entries
        if len(entries) == entries.maxlen:
            self.dropped += 1
        entry_id = self._next_id
        self._next_id = entry_id + 1
        entry = Entry(entry_id, *fields)
        entries.append(entry)
        if not observe:
            for listener in self._listeners:
                listener(entry)
        elif self._observer is not None:
            self._observer(entry, self.arrivals)
        return entry

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with each entry recorded from now on (synchronously: it must not block)."""
        self._listeners = (*self._listeners, listener)
        self._rewire()

    def unlisten(self, listener: Listener) -> None:
        self._listeners = tuple(x for x in self._listeners if x != listener)  # bound methods: ==, not is
        self._rewire()

    def _rewire(self) -> None:
        primary, listeners = self._primary, self._listeners
        if not listeners:
            self._observer = primary
            return

        def fan_out(entry: Entry, arrivals: int) -> None:
            if primary is not None:
                primary(entry, arrivals)
            for listener in listeners:
                listener(entry)

        self._observer = fan_out

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
