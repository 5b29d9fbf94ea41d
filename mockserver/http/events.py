"""``/__admin/events``: one server-sent-events stream of what happens in the mock.

Events: ``hello`` (the server, on connecting), ``request`` (each journal entry as it is recorded),
``callback`` (each delivery attempt), ``clock`` (an admin move of the clock), ``reset``,
``scenario`` (a scenario loaded), ``dropped`` (how many events this subscriber missed).

Bounded per subscriber: the journal calls the hub synchronously on the event loop, and the hub
only ``put_nowait``s a reference to the entry into each subscriber's small queue. A subscriber
that does not read (a browser tab in the background, a stalled ``tail``) fills its queue, then
its events are counted as dropped, never buffered: the request path never waits for a reader and
memory never grows with one. Entries are turned into JSON by the reader's own loop.

With no subscriber the hub is not attached to the journal at all (``Journal.listen``).

A reset replaces the journal and the callback log; the hub notices the new ones (after each admin
action, and every ``TICK_S`` while it has subscribers) and sends what they already hold, so no entry
is missed across a reset. Callback attempts are read from the log the same way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from mockserver.callbacks.log import CallbackLog
from mockserver.core import control
from mockserver.core.journal import Entry, Journal
from mockserver.core.redact import mask_key
from mockserver.core.service import MockService

QUEUE_SIZE = 256  # events waiting per subscriber; more are counted as dropped
MAX_SUBSCRIBERS = 32  # more are refused (503): each costs a queue and a connection
TICK_S = 0.25  # how often a waiting stream looks for a reset and new callback attempts
KEEPALIVE_S = 15.0  # a comment line, so proxies and clients see the connection is alive
BATCH = 64  # events written in one chunk


class Subscriber:
    __slots__ = ("queue", "dropped", "reveal")

    def __init__(self, size: int, reveal: bool) -> None:
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(size)
        self.dropped = 0
        self.reveal = reveal

    def offer(self, event: tuple[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1


class EventHub:
    """Fans what happens out to the subscribers of ``/__admin/events`` (one hub per app)."""

    def __init__(self, mock: MockService, queue_size: int = QUEUE_SIZE, max_subscribers: int = MAX_SUBSCRIBERS):
        self.mock = mock
        self.queue_size = queue_size
        self.max_subscribers = max_subscribers
        self.subscribers: set[Subscriber] = set()
        self.closed = False
        self._journal: Journal | None = None
        self._log: CallbackLog | None = None
        self._log_seen = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- subscribers -------------------------------------------------------------

    def subscribe(self, reveal: bool = False) -> Subscriber | None:
        """A new subscriber (None when there are already ``max_subscribers``). On the event loop."""
        if len(self.subscribers) >= self.max_subscribers:
            return None
        self._loop = asyncio.get_running_loop()
        sub = Subscriber(self.queue_size, reveal)
        self.subscribers.add(sub)
        self.sync()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        if not self.subscribers and self._journal is not None:
            self._journal.unlisten(self._on_entry)
            self._journal = None
            self._log = None

    def close(self) -> None:
        """End every stream (the server is stopping). Safe from any thread."""
        self.closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for sub in self.subscribers:
            sub.offer(("close", None))

    # -- what happens --------------------------------------------------------------

    def publish(self, kind: str, data: Any) -> None:
        for sub in self.subscribers:
            sub.offer((kind, data))

    def _on_entry(self, entry: Entry) -> None:
        # On the request path: a reference into each queue, nothing more.
        for sub in self.subscribers:
            sub.offer(("request", entry))

    def sync(self) -> None:
        """Follow a new journal or callback log (a reset), and publish new callback attempts."""
        if not self.subscribers:
            return
        journal = self.mock.journal
        if journal is not self._journal:
            swapped = self._journal is not None
            if swapped:
                assert self._journal is not None
                self._journal.unlisten(self._on_entry)
                self.publish("reset", {"now": self.mock.now()})
                for entry in journal.entries():  # recorded since the reset, before we looked
                    self._on_entry(entry)
            journal.listen(self._on_entry)
            self._journal = journal
        log: CallbackLog | None = getattr(self.mock.callbacks, "log", None)
        if log is None:
            return
        if log is not self._log:
            fresh = self._log is not None  # a reset: everything in the new log is news
            self._log = log
            if not fresh:
                kept = log.entries()
                self._log_seen = kept[-1].id if kept else 0
                return
            self._log_seen = 0
        for attempt in log.entries(self._log_seen):
            self._log_seen = attempt.id
            self.publish("callback", attempt)

    def clock_moved(self) -> None:
        self.sync()
        if self.subscribers:
            self.publish("clock", control.clock(self.mock))

    def scenario_loaded(self) -> None:
        self.sync()
        if self.subscribers:
            self.publish("scenario", {"name": self.mock.scenario.name, "now": self.mock.now()})

    # -- the stream ------------------------------------------------------------------

    async def stream(self, sub: Subscriber) -> AsyncIterator[str]:
        """The text/event-stream body for ``sub``; unsubscribes when the client goes."""
        try:
            yield "retry: 1000\n\n" + _sse("hello", control.health(self.mock))
            idle = 0.0
            while not self.closed:
                try:
                    first = await asyncio.wait_for(sub.queue.get(), TICK_S)
                except TimeoutError:
                    self.sync()
                    idle += TICK_S
                    if idle >= KEEPALIVE_S:
                        idle = 0.0
                        yield ": keepalive\n\n"
                    continue
                idle = 0.0
                batch = [first]
                while len(batch) < BATCH and not sub.queue.empty():
                    batch.append(sub.queue.get_nowait())
                chunks = [self._format(kind, data, sub.reveal) for kind, data in batch if kind != "close"]
                if sub.dropped and sub.queue.empty():
                    # After what was queued: the gap is here, the missed events were newer.
                    chunks.append(_sse("dropped", {"count": sub.dropped}))
                    sub.dropped = 0
                if chunks:
                    yield "".join(chunks)
        finally:
            self.unsubscribe(sub)

    def _format(self, kind: str, data: Any, reveal: bool) -> str:
        if kind == "request":
            data = data.to_dict()
            if not reveal:
                data["key"] = mask_key(data["key"])
        elif kind == "callback":
            data = data.to_dict()
        return _sse(kind, data)


def _sse(kind: str, data: object) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
