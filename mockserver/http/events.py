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
from typing import TYPE_CHECKING, Any

from mockserver.callbacks.log import CallbackLog
from mockserver.core.journal import Entry, Journal
from mockserver.core.redact import mask_key

if TYPE_CHECKING:
    from mockserver.core.service import MockService

# The hub's server side imports ``mockserver.core.control`` where it uses it: `mockserver tail`
# imports this module for ``describe_event`` alone, and not the service with it (~60 ms of CPU).

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
            from mockserver.core import control

            self.publish("clock", control.clock(self.mock))

    def scenario_loaded(self) -> None:
        self.sync()
        if self.subscribers:
            self.publish("scenario", {"name": self.mock.scenario.name, "now": self.mock.now()})

    # -- the stream ------------------------------------------------------------------

    async def stream(self, sub: Subscriber) -> AsyncIterator[str]:
        """The text/event-stream body for ``sub``; unsubscribes when the client goes."""
        from mockserver.core import control

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


# -- one line per event (``mockserver tail``) ---------------------------------------------

_COLOURS = {"ok": "32", "client": "33", "server": "31", "fault": "35", "dim": "2"}


def _paint(text: str, tone: str, colour: bool) -> str:
    return f"\033[{_COLOURS[tone]}m{text}\033[0m" if colour else text


def _clock(ms: object) -> str:
    if not isinstance(ms, int):
        return "--:--:--.---"
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def describe_event(kind: str, data: dict, colour: bool = False) -> str:
    """One line for an event of the stream: for a request, its virtual time (UTC), key, method,
    path, status, injected fault and the task state it answered."""
    if kind == "request":
        status = data.get("status") or 0
        fault = data.get("fault")
        tone = "fault" if fault else "ok" if status < 400 else "client" if status < 500 else "server"
        path = data.get("path", "") + (f"?{data['query']}" if data.get("query") else "")
        parts = [
            _clock(data.get("time")),
            f"{data.get('key') or '-':<10}",
            f"{data.get('method', ''):<6}",
            path,
            _paint(str(status) if status else "---", tone, colour),
        ]
        if fault:
            parts.append(_paint(f"fault={fault}", "fault", colour))
        if data.get("state"):
            parts.append(f"state={data['state']}")
        if data.get("error") and status >= 400:
            parts.append(_paint(str(data["error"])[:80], "dim", colour))
        return "  ".join(parts)
    if kind == "callback":
        outcome = data.get("outcome")
        tone = "ok" if outcome == "delivered" else "server" if outcome == "failed" else "client"
        status = data.get("status")
        what = f"{outcome}" + (f" {status}" if status else "") + (f" ({data['error']})" if data.get("error") else "")
        return "  ".join(
            [
                _clock(data.get("time")),
                "callback",
                str(data.get("taskId")),
                f"attempt {data.get('attempt')}",
                _paint(what, tone, colour),
            ]
        )
    if kind == "clock":
        return _paint(f"{_clock(data.get('now'))}  clock moved; {data.get('unfinished')} unfinished", "dim", colour)
    if kind == "reset":
        return _paint(f"{_clock(data.get('now'))}  reset", "dim", colour)
    if kind == "scenario":
        return _paint(f"{_clock(data.get('now'))}  scenario loaded: {data.get('name')}", "dim", colour)
    if kind == "dropped":
        return _paint(f"... {data.get('count')} events dropped (this reader fell behind)", "client", colour)
    if kind == "hello":
        return _paint(
            f"{_clock(data.get('now'))}  mockserver {data.get('version')} ({', '.join(data.get('dialects', []))}, "
            f"{data.get('clock')} clock, scenario {data.get('scenario') or 'none'})",
            "dim",
            colour,
        )
    return f"{kind} {data}"
