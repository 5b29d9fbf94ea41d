"""The app in this process without threads: a private event loop, run in the caller's thread.

Starlette's TestClient runs each request's app behind an anyio portal in another thread, and
a fuzz loop spends most of its time waiting on the locks between the two (4.4 ms a request,
against ~50 us of work). Here a request is one ``loop.run_until_complete`` in the caller's
thread: ``InProcessTransport`` is an httpx transport (the scope is built as TestClient builds
it, and an exception of the app reaches the caller as it does there, injected faults
included), and ``PrivateLoop`` also runs the app's lifespan, so the callback dispatcher lives
on the same loop as every request.

A manual clock changes only when someone calls the mock, so nothing is due between calls and
the loop needs no thread. A real clock lets callbacks fall due on their own: ``threaded=True``
keeps the loop running in a thread of its own, as TestClient did.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx

from mockserver.http.requests import BODY_IN_HAND
from mockserver.testing.clients import MockClient

__all__ = ["InProcessTransport", "PrivateLoop", "in_process_client"]

T = TypeVar("T")
CLIENT = ("testclient", 50000)  # the peer address TestClient gives the app, kept for the journal


class PrivateLoop:
    """One event loop for one app: ``run(coro)`` drives it to the coroutine's end.

    The caller's thread runs the loop. When another thread is already running it (a test that
    advances the clock in one thread while its client polls in another), the coroutine is
    handed to that run and this thread waits for it, or takes the loop over if that run ends
    first: the app serves both, as a server would. ``settle``: awaited by the thread that ran
    the loop before it lets go (MockApi: the callbacks its call made due are attempted).
    """

    def __init__(
        self, *, threaded: bool = False, settle: Callable[[], Awaitable[None]] | None = None, fast: bool = True
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.settle = settle
        self.fast = fast  # False: every call runs the loop (the reference the fast step is tested against)
        self._cond = threading.Condition()
        self._running = False  # some thread is inside run_until_complete
        self._thread: threading.Thread | None = None
        self._helper: concurrent.futures.ThreadPoolExecutor | None = None
        self._lifespan: asyncio.Task | None = None
        self._lifespan_in: asyncio.Queue | None = None
        self._lifespan_out: asyncio.Queue | None = None
        if threaded:
            self._thread = threading.Thread(target=self.loop.run_forever, name="mockserver-loop", daemon=True)
            self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """The coroutine's result, run on this loop (its exception raised here)."""
        if self._thread is not None:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result()
        with self._cond:
            mine = not self._running
            self._running = True
        if mine:
            return self._drive(coro)
        handed = asyncio.run_coroutine_threadsafe(coro, self.loop)
        handed.add_done_callback(self._notify)
        with self._cond:
            while not handed.done() and self._running:
                self._cond.wait()
            if handed.done():
                return handed.result()
            self._running = True  # the other run ended before ours: drive the loop ourselves
        return self._drive(asyncio.wrap_future(handed, loop=self.loop))

    def _drive(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` (then settle) in this thread: its first step at once when the loop
        is idle, the loop itself only if it suspends (or a helper's, inside another loop)."""
        try:
            task = self._first_step(self._settled(awaitable))
            loop = self.loop
            if task.done() and self._idle():
                return task.result()
            if asyncio._get_running_loop() is not None:
                # Called from inside another loop (sync code in an async test): this thread
                # cannot run a second loop, so a helper thread runs ours meanwhile.
                if self._helper is None:
                    self._helper = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mockserver-loop")
                return self._helper.submit(loop.run_until_complete, task).result()
            return loop.run_until_complete(task)
        finally:
            with self._cond:
                self._running = False
                self._cond.notify_all()

    def _first_step(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task for ``coro`` whose first step has run here, as the loop would have run it.

        Most calls never suspend (the app answers from memory), so running the loop for them,
        one task step plus a poll for I/O and a stop, costs more than the app. When nothing
        else is ready or timed, the task's first step is the loop's whole next iteration: it
        runs in this thread with the loop set as the running one (and its async-generator
        hooks), inside a real Task, so the app sees what it sees on the loop. A task that
        suspended, or left work behind, is finished by the loop as before.
        """
        loop = self.loop
        if not self.fast or not self._idle():
            return loop.create_task(coro)  # work pending (or another loop class): the loop runs it all
        ready = loop._ready  # type: ignore[attr-defined]
        outer = asyncio._get_running_loop()
        hooks = sys.get_asyncgen_hooks()
        asyncio._set_running_loop(loop)
        sys.set_asyncgen_hooks(firstiter=loop._asyncgen_firstiter_hook, finalizer=loop._asyncgen_finalizer_hook)  # type: ignore[attr-defined]
        try:
            task = loop.create_task(coro)  # schedules its first step: the one handle ready
            ready.popleft()._run()
        finally:
            sys.set_asyncgen_hooks(*hooks)
            asyncio._set_running_loop(outer)
        return task

    def _idle(self) -> bool:
        """Nothing ready to run and no timer set on the loop (an asyncio loop of the standard kind)."""
        ready = getattr(self.loop, "_ready", None)
        return type(ready) is collections.deque and not ready and not getattr(self.loop, "_scheduled", True)

    async def _settled(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result, then ``settle`` (one pass of the loop for both)."""
        try:
            return await awaitable
        finally:
            if self.settle is not None:
                await self.settle()

    def _notify(self, _: object) -> None:
        with self._cond:
            self._cond.notify_all()

    # -- the app's lifespan ---------------------------------------------------------

    def start_lifespan(self, app: Any) -> None:
        """Run the app's lifespan startup on this loop; it stays open until ``close()``."""
        self.run(self._start(app))

    async def _start(self, app: Any) -> None:
        self._lifespan_in, self._lifespan_out = asyncio.Queue(), asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._lifespan = asyncio.get_running_loop().create_task(
            app(scope, self._lifespan_in.get, self._lifespan_out.put)
        )
        await self._lifespan_in.put({"type": "lifespan.startup"})
        message = await self._lifespan_out.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app's lifespan did not start: {message.get('message', message['type'])}")

    async def _stop(self) -> None:
        if self._lifespan is None or self._lifespan_in is None or self._lifespan_out is None:
            return
        await self._lifespan_in.put({"type": "lifespan.shutdown"})
        await self._lifespan_out.get()
        await self._lifespan

    def close(self) -> None:
        """End the lifespan (the dispatcher stops), then the loop."""
        if self.loop.is_closed():
            return
        try:
            self.run(self._stop())
        finally:
            if self._thread is not None:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(10)
            if self._helper is not None:
                self._helper.shutdown()
            self.loop.close()


class InProcessTransport(httpx.BaseTransport):
    """An httpx transport that calls an ASGI app on a PrivateLoop: no socket, no thread."""

    def __init__(self, app: Any, loop: PrivateLoop, *, root_path: str = "") -> None:
        self.app = app
        self.private_loop = loop
        self.root_path = root_path

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        # The bytes httpx would put on the wire, names lower-cased (it always sets Host).
        headers = [(key.lower(), value) for key, value in request.headers.raw]
        if not any(key == b"host" for key, _ in headers):
            headers.insert(0, (b"host", url.netloc))
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": request.method,
            "path": unquote(url.path),
            "raw_path": url.raw_path.partition(b"?")[0],
            "root_path": self.root_path,
            "scheme": url.scheme,
            "query_string": url.query,
            "headers": headers,
            "client": CLIENT,
            "server": [url.raw_host.decode("ascii"), url.port or _PORTS[url.scheme]],
            "extensions": {"http.response.debug": {}, "http.response.trailers": {}},
            "state": {},
            BODY_IN_HAND: True,  # the body goes in one message, below: nothing to time out
        }
        exchange = _Exchange(request.read())
        self.private_loop.run(exchange.run(self.app, scope))
        start = exchange.start
        if start is None:
            raise RuntimeError("the app returned without starting a response")
        body = b"" if request.method == "HEAD" else b"".join(exchange.chunks)
        # A stream, not content=: httpx would add a Content-Length the app did not send.
        return httpx.Response(
            start["status"], headers=list(start.get("headers", ())), stream=httpx.ByteStream(body), request=request
        )


_PORTS = {"http": 80, "https": 443}


class _Exchange:
    """One request's ASGI receive and send: the body in, the answer collected.

    The client hangs up once it has the whole answer: a second ``receive`` before that waits
    (an Event made only then: most apps never ask).
    """

    __slots__ = ("body", "chunks", "complete", "done", "start")

    def __init__(self, body: bytes) -> None:
        self.body: bytes | None = body
        self.start: dict | None = None
        self.chunks: list[bytes] = []
        self.complete = False
        self.done: asyncio.Event | None = None

    async def run(self, app: Any, scope: dict) -> None:
        try:
            await app(scope, self.receive, self.send)
        finally:
            self._finish()

    def _finish(self) -> None:
        self.complete = True
        if self.done is not None:
            self.done.set()

    async def receive(self) -> dict:
        body = self.body
        if body is not None:
            self.body = None
            return {"type": "http.request", "body": body, "more_body": False}
        if not self.complete:
            if self.done is None:
                self.done = asyncio.Event()
            await self.done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            assert self.start is None, 'Received multiple "http.response.start" messages.'
            self.start = message
        elif kind == "http.response.body":
            assert self.start is not None, 'Received "http.response.body" without "http.response.start".'
            self.chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                self._finish()


@contextlib.contextmanager
def in_process_client(app: Any, *, lifespan: bool = True, threaded: bool = False, **kw: Any) -> Iterator[httpx.Client]:
    """An httpx.Client on ``app`` run in this thread, its lifespan open while the block runs.

    It is a ``MockClient`` (mockserver.testing.clients): httpx's client without the URL joins and
    cookie scans it would repeat on every request, as ``MockApi.client()`` hands out.

    What ``with TestClient(app) as client`` gives, without the portal thread. Before a call
    returns, the callbacks it made due are attempted (see ``settler``). ``lifespan=False`` is
    a TestClient not used as a context manager: no lifespan, so no background runner, and
    callbacks wait for the next clock move, as there. ``threaded``: the loop runs in a thread of its
    own (a real clock, whose callbacks fall due between requests).
    """
    loop = PrivateLoop(threaded=threaded, settle=settler(app) if lifespan else None)
    try:
        if lifespan:
            loop.start_lifespan(app)
        kw.setdefault("base_url", "http://testserver")
        with memory_client(app, loop, **kw) as client:
            yield client
    finally:
        loop.close()


def memory_client(app: Any, loop: PrivateLoop, **kw: Any) -> MockClient:
    """A MockClient whose requests run ``app`` on ``loop`` in the calling thread, sending what
    Starlette's TestClient sent (its user-agent; redirects followed), so the app sees the
    requests it saw before."""
    kw.setdefault("follow_redirects", True)
    kw["headers"] = {"user-agent": "testclient", **dict(kw.get("headers") or {})}
    return MockClient(transport=InProcessTransport(app, loop), **kw)


def settler(app: Any) -> Callable[[], Awaitable[None]] | None:
    """For a mockserver app: attempt the callbacks due by now and wait for those in flight.

    A server's background runner would start them a moment after the request that made them
    due; on a loop that runs only during calls, they are made before the call returns, so a
    receiver has them then, and none is left half-sent while nobody drives the loop.
    """
    state = getattr(app, "state", None)
    return getattr(getattr(getattr(state, "mock", None), "callbacks", None), "run_due", None)
