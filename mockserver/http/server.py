"""Running the app on uvicorn: bound before start (port 0 safe), in the foreground or a thread."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import gc
import importlib.util
import logging
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn

from mockserver.core.config import server_url


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket; binding first means port 0 is resolved before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it a response written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """Where a client reaches a listening socket (a wildcard address is reached on loopback)."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return server_url(host, port)


MAX_HEAD_BYTES = 64 * 1024  # a request line and headers; more is answered 431 and closed


class _Sweeper:
    """One timer per event loop that closes the connections whose request is overdue.

    A timer armed and cancelled for every request costs a heap push per answer (uvicorn already
    keeps one for keep-alive); a deadline stamp per request and one sweep every ``period_s`` cost
    one ``loop.time()``. A connection is closed at most ``period_s`` after its deadline.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, period_s: float) -> None:
        self.loop = loop
        self.period_s = period_s
        self.watched: set = set()
        self._handle: asyncio.TimerHandle | None = None

    def watch(self, conn) -> None:
        self.watched.add(conn)
        if self._handle is None:
            self._handle = self.loop.call_later(self.period_s, self._sweep)

    def forget(self, conn) -> None:
        self.watched.discard(conn)

    def _sweep(self) -> None:
        now = self.loop.time()
        for conn in [c for c in self.watched if c._deadline <= now]:
            conn._expire()
        self._handle = self.loop.call_later(self.period_s, self._sweep) if self.watched else None


def guarded(protocol: type[asyncio.Protocol], request_timeout_s: float) -> type[asyncio.Protocol]:
    """``protocol`` (uvicorn's h11 or httptools one) with two bounds uvicorn lacks (docs/security.md).

    - A whole request, head and body, must arrive within ``request_timeout_s`` of the connection
      opening or of the previous answer; else the connection is closed (slow or stalled senders,
      connections opened and left silent). A request that has fully arrived is never cut: the app
      may hold it on purpose (a scenario's ``hang`` or ``delay``). Deadlines are checked by one
      sweep per event loop, a few times per ``request_timeout_s``.
    - A request head larger than MAX_HEAD_BYTES is answered 431 and closed (httptools has no bound).

    And one help: a request's scope carries ``ONE_WRITE`` (``mockserver.http.fastpath``), a call
    with which an app has the head and body of its next response written at once (_OneWrite).
    uvicorn's own ``timeout_keep_alive`` still closes idle connections between requests sooner.
    """
    from mockserver.http.fastpath import ONE_WRITE  # the app's module: the key the fast path reads

    sweepers: dict[asyncio.AbstractEventLoop, _Sweeper] = {}
    period_s = min(1.0, request_timeout_s / 4)

    class Guarded(protocol):  # type: ignore[misc, valid-type]
        _deadline = float("inf")
        _head_bytes = 0
        _sweeper: _Sweeper | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            sweeper = sweepers.get(self.loop)
            if sweeper is None:
                sweeper = sweepers[self.loop] = _Sweeper(self.loop, period_s)
            self._sweeper = sweeper
            self._arm()
            sweeper.watch(self)
            self._one_write_hook = self._one_write  # one bound method per connection, not per request

        def data_received(self, data: bytes) -> None:
            cycle = getattr(self, "cycle", None)
            reading_head = cycle is None or (cycle.response_complete and not cycle.more_body)
            super().data_received(data)
            if not reading_head or self.transport.is_closing():
                return
            started = getattr(self, "cycle", None)
            if started is not cycle:
                self._head_bytes = 0  # the head is complete: a request started
                if started is not None:
                    started.scope[ONE_WRITE] = self._one_write_hook
                return
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self.transport.write(_TOO_LARGE)
                self.transport.close()

        def _one_write(self, scope) -> None:
            cycle = getattr(self, "cycle", None)
            # Only the cycle of this request (not a pipelined one), before its head went out.
            if cycle is not None and cycle.scope is scope and not cycle.response_started:
                cycle.transport = _OneWrite(cycle)

        def on_response_complete(self) -> None:
            held = self.cycle.transport
            if type(held) is _OneWrite:
                held.flush()  # a response that ended without a body write
            super().on_response_complete()
            self._head_bytes = 0
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._sweeper is not None:
                self._sweeper.forget(self)
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._deadline = self.loop.time() + request_timeout_s

        def _expire(self) -> None:
            self._deadline = float("inf")
            cycle = getattr(self, "cycle", None)
            if cycle is not None and not cycle.response_complete and not cycle.more_body:
                return  # the request is all here: the app is answering it
            if not self.transport.is_closing():
                self.transport.close()

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{protocol.__name__}"
    return Guarded


class _OneWrite:
    """Between uvicorn's request cycle and its transport for one response: holds the head (the
    cycle's first write) until the body comes (the second), then writes both at once and gives the
    cycle its transport back. uvicorn writes a response's head when the app sends it and its body
    when that comes, two writes (two system calls, two TCP segments); this sends the same bytes in
    one. A close, or the response's end without a body write (HEAD), writes the held head first.
    """

    __slots__ = ("cycle", "transport", "head")

    def __init__(self, cycle) -> None:
        self.cycle = cycle
        self.transport = cycle.transport
        self.head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self.head
        if head is None:
            self.head = data
            return
        self.release()
        self.transport.write(head + data)

    def release(self) -> None:
        """The cycle writes straight to its transport again (the held head is the caller's to write)."""
        self.cycle.transport = self.transport
        self.cycle = self.head = None

    def flush(self) -> None:
        head = self.head
        if self.cycle is not None:
            self.release()
        if head is not None:
            self.transport.write(head)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str):
        return getattr(self.transport, name)  # is_closing, get_extra_info...


_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def _protocol_class(http: object) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class for an ``http=`` option ("auto", "h11", "httptools" or a class)."""
    if isinstance(http, type):
        return http
    if http in ("auto", "httptools"):
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

            return HttpToolsProtocol
        except ImportError:  # pragma: no cover - uvicorn without httptools
            if http == "httptools":
                raise
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


def _websocket_library_installed() -> bool:
    """Whether uvicorn's ``ws="auto"`` finds a websocket library (it tries these two), without
    importing one."""
    return any(importlib.util.find_spec(name) is not None for name in ("websockets", "wsproto"))


def _websocket_protocol(**kwargs) -> asyncio.Protocol:
    """uvicorn's ``ws="auto"`` protocol, imported at the first websocket upgrade, not at start.

    The mock serves no websocket route: an upgrade is refused (403) by that protocol, as before.
    uvicorn imports it, and the websockets library, when its config loads (~25 ms of CPU at
    every start); it calls ``ws_protocol_class(config=..., server_state=..., app_state=...)``
    only when a request asks for an upgrade, and then this makes the same protocol.
    """
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

    assert AutoWebSocketsProtocol is not None  # make_server checked that a library is installed
    return AutoWebSocketsProtocol(**kwargs)


def make_server(
    app,
    log_level: str = "warning",
    access_log: bool = False,
    on_started: Callable[[], None] | None = None,
    **options,
) -> _Server:
    """A uvicorn server for ``app``; ``on_started`` runs once it answers; ``options`` are more
    uvicorn.Config arguments (http=...).

    Timeouts come from the app's settings (request_timeout_s, keep_alive_s) unless given here.
    """
    # A scenario's `hang` fault holds connections open; on shutdown, wait for them only briefly.
    options.setdefault("timeout_graceful_shutdown", 3)
    settings = getattr(getattr(getattr(app, "state", None), "mock", None), "settings", None)
    request_timeout_s = options.pop("request_timeout_s", getattr(settings, "request_timeout_s", 15.0))
    options.setdefault("timeout_keep_alive", getattr(settings, "keep_alive_s", 5.0))
    options["http"] = guarded(_protocol_class(options.get("http", "auto")), request_timeout_s)
    if options.get("ws", "auto") == "auto" and _websocket_library_installed():
        options["ws"] = _websocket_protocol
    # Lifespan on: the callback dispatcher's runner starts and stops with the server.
    config = uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="on", **options)
    if access_log:
        # uvicorn gives its access logger the general level: at the default "warning" the
        # access lines (info) would be dropped although they were asked for.
        logging.getLogger("uvicorn.access").setLevel(min(logging.INFO, logging.getLogger("uvicorn.access").level))
    return _Server(config, on_started, getattr(getattr(app, "state", None), "on_exit", None))


class _Server(uvicorn.Server):
    """uvicorn's server, which says when it answers (``on_started``) and tells the app at the first
    SIGINT/SIGTERM (``app.state.on_exit``).

    uvicorn runs the lifespan's shutdown only after open requests end, and an admin advance
    waits for its deliveries: the app must stop them at the signal, not after.
    """

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None = None, on_exit=None) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._on_exit = on_exit

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # Everything alive now (modules, the catalog, schemas, the app) lives as long as the
        # process: take it out of the collector's reach, or every full collection walks it
        # again (~50 ms on this project's machine, a stall of every request in flight).
        gc.collect()
        gc.freeze()
        await super().startup(sockets=sockets)
        if self.started and self._on_started is not None:
            self._on_started()

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        if self._on_exit is not None:
            self._on_exit()
        self._wake()

    # uvicorn notices ``should_exit`` at its next tick (every 0.1 s), then sleeps 0.1 s after asking
    # its connections to close and checks every 0.1 s whether they have: a stop took 140-190 ms
    # with nothing to wait for (108 stops in this project's test suite: 17 s). The same steps
    # here, each ended by what it waits for: the tick by ``request_exit()`` or a signal, the
    # waits for connections and tasks checked every few milliseconds.

    _tick: asyncio.Future[None] | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def request_exit(self) -> None:
        """Stop the server, from any thread: ``should_exit``, noticed now rather than at the next tick."""
        self.should_exit = True
        self._wake()

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the server has stopped
                loop.call_soon_threadsafe(self._end_tick)

    def _end_tick(self) -> None:
        tick = self._tick
        if tick is not None and not tick.done():
            tick.set_result(None)

    async def main_loop(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            # No await between on_tick's verdict and the tick: a wake-up lands in this wait.
            tick = self._tick = loop.create_future()
            timer = loop.call_later(_TICK_S, self._end_tick)
            try:
                await tick
            finally:
                timer.cancel()
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's Server.shutdown, step for step.
        _uvicorn_log.info("Shutting down")
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            await asyncio.wait_for(self._drained(), timeout=self.config.timeout_graceful_shutdown)
        except TimeoutError:
            _uvicorn_log.error(
                "Cancel %s running task(s), timeout graceful shutdown exceeded", len(self.server_state.tasks)
            )
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _drained(self) -> None:
        """Until the connections have closed and the tasks ended (or a second Ctrl-C)."""
        state = self.server_state
        if state.connections and not self.force_exit:
            _uvicorn_log.info("Waiting for connections to close. (CTRL+C to force quit)")
            while state.connections and not self.force_exit:
                await asyncio.sleep(_DRAIN_CHECK_S)
        if state.tasks and not self.force_exit:
            _uvicorn_log.info("Waiting for background tasks to complete. (CTRL+C to force quit)")
            while state.tasks and not self.force_exit:
                await asyncio.sleep(_DRAIN_CHECK_S)
        for server in self.servers:
            await server.wait_closed()


_TICK_S = 0.1  # uvicorn's: the date header and max-requests checks run per tick
_DRAIN_CHECK_S = 0.005
_uvicorn_log = logging.getLogger("uvicorn.error")


# The collector's thresholds for a served mock (``mockserver serve``): gen-0 and gen-1 as Python's
# defaults, a full collection after 100 gen-1 collections instead of 10.
SERVE_GC_THRESHOLDS = (700, 10, 100)


def tune_gc_for_serving() -> None:
    """Make full collections rarer in a process that only serves the mock.

    Every task is a few objects the collector tracks and that live until evicted, so a full
    collection walks them all: at 100,000 tasks (~400,000 objects) each one stalls every request
    in flight, and at Python's default thresholds 100,000 submits made 15 of them (docs/performance.md).
    Python still runs one only when the objects that survived since the last have grown by a quarter;
    this also waits for 100 gen-1 collections instead of 10 (2 full collections over the same run).
    Short-lived cycles die in the young generations as before. Only ``mockserver serve`` calls this:
    a ServerThread shares its process (a test run) and leaves the collector alone.
    """
    gc.set_threshold(*SERVE_GC_THRESHOLDS)


def write_url_file(path: str | os.PathLike, url: str) -> None:
    """``url`` and a newline into ``path``, atomically: a reader sees the whole URL or no file."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(url + "\n")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def serialize_ast_parse() -> None:
    """Make ``ast.parse`` take a lock, on the Pythons where two threads parsing at once can fail.

    CPython before 3.13 keeps the AST constructor's recursion depth in per-interpreter state
    (gh-106905): two threads in ``ast.parse`` at once can raise "SystemError: AST constructor
    recursion depth mismatch". With the server in a thread of the test process, that happens: the
    server thread formats the traceback of a request it failed (3.11's tracebacks call
    ``ast.parse`` for their carets) while pytest builds a failure report (which calls it too).
    Installed once, when a ServerThread starts; the same function, one caller at a time.
    """
    if sys.version_info >= (3, 13) or getattr(ast.parse, "_mockserver_serialized", False):
        return
    lock = threading.RLock()
    original = ast.parse

    @functools.wraps(original)
    def parse(*args, **kwargs):
        with lock:
            return original(*args, **kwargs)

    parse._mockserver_serialized = True  # type: ignore[attr-defined]
    ast.parse = parse


class ServerThread:
    """A uvicorn server in a background thread on an already-bound socket.

    Connections made right after ``start()`` queue in the socket's backlog, so no
    caller ever waits on the wall clock for the server to come up. An exception that
    kills the server thread is kept in ``error``.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, **options) -> None:
        self.app = app
        self.sock = bind_socket(host, port)
        self.url = url_of(self.sock)
        self.server = make_server(app, **options)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mockserver", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # kept for the caller: a thread cannot raise into it
            self.error = exc

    def start(self) -> ServerThread:
        serialize_ast_parse()
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.request_exit()
        on_exit = getattr(getattr(self.app, "state", None), "on_exit", None)
        if on_exit is not None:
            on_exit()
        self._thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
