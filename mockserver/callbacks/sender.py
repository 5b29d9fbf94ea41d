"""The network side of webhook delivery: one POST per attempt, on a thread of its own.

Why not a shared HTTP client on the server's event loop: a pool shared by every pending
attempt does bookkeeping that grows with them (a profile of 1,000 due deliveries spent 97.8 %
of the time there, and the API answered nothing for minutes), and a connection left in a bad
state by a receiver that hangs could starve later deliveries to healthy receivers. So:

- each attempt opens its own connection and closes it: nothing is shared between attempts,
  nothing survives a receiver's misbehaviour, a reset or a storm;
- one deadline bounds the whole attempt (connect, send, status line), enforced by asyncio;
- the sending runs on its own thread and event loop, so TLS handshakes, name lookups and
  thousands of sockets never lengthen an iteration of the loop that serves the API;
- attempts cross to that thread, and their results back, in batches: one wake-up of the
  other loop per batch, not per attempt, and at most RESULT_BATCH results are handed to the
  caller's loop per turn of it, so a storm's answers never arrive as one long turn;
- the dispatcher, not this module, bounds how many attempts are in flight.

The HTTP/1.1 framing is h11's (the state machine httpx and uvicorn are built on): the request,
with ``Connection: close`` and a ``Content-Length`` body, is written in one piece; only the
status decides the outcome, so the answer is read up to the end of its head (1xx interim
answers skipped) and the connection is closed.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from mockserver.core.clock import monotonic

if TYPE_CHECKING:
    import h11

# h11 is imported where a callback is sent (~15 ms of CPU): most servers never send one.

__all__ = ["SendResult", "Sender"]

MAX_HEAD_BYTES = 64 * 1024  # a status line and headers longer than this is not an answer
READ_CHUNK = 16 * 1024
# Results handed to a caller's loop per turn of it: a storm's answers arrive together, and the
# loop serves the API's requests between slices of them.
RESULT_BATCH = 16


@dataclass(slots=True)
class SendResult:
    status: int | None
    error: str | None  # None when an answer came (any status)
    duration_ms: float
    timed_out: str | None = None  # the phase the deadline struck in: "connecting" or "waiting for the answer"


@dataclass(slots=True, eq=False)
class _Job:
    url: str
    body: bytes
    headers: dict[str, str]
    timeout_s: float
    future: asyncio.Future[SendResult]  # on the caller's loop
    caller: asyncio.AbstractEventLoop
    task: asyncio.Task | None = None  # on the sender's loop, once started
    cancelled: bool = False


class Sender:
    """POSTs webhook bodies from a background thread; ``post`` is awaited from any event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ssl: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task] = set()  # owned by the sender loop
        # Attempts handed over, and results on their way back per caller loop.
        self._box_lock = threading.Lock()
        self._inbox: list[_Job] = []
        self._outbox: dict[asyncio.AbstractEventLoop, list[tuple[_Job, SendResult | BaseException]]] = {}

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = _new_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name="mockserver-webhooks", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> SendResult:
        """Send one attempt; cancelling the caller cancels the attempt at once.

        Attempts cross between the threads in batches: the first one queued since the sender
        last looked wakes its loop, the others ride along; results come back the same way,
        at most RESULT_BATCH per turn of the caller's loop (see ``_reply``).
        """
        loop = self._ensure()
        caller = asyncio.get_running_loop()
        job = _Job(url, body, headers, timeout_s, caller.create_future(), caller)
        with self._box_lock:
            self._inbox.append(job)
            wake = len(self._inbox) == 1
        if wake:
            loop.call_soon_threadsafe(self._start_jobs)
        try:
            return await job.future
        except asyncio.CancelledError:
            if not job.future.done() or job.future.cancelled():
                self._call(loop, self._cancel_job, job)
            raise

    def cancel_all(self) -> None:
        """Abandon every attempt in flight (their sockets close); the thread keeps running."""
        with self._lock:
            loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._cancel_tasks)

    def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def close(self, timeout: float = 2.0) -> None:
        """Abandon every attempt in flight and stop the thread.

        Call it once no caller still awaits ``post``: cancelling one after the loop closed
        would have nowhere to send the cancellation.
        """
        with self._lock:
            loop, self._loop = self._loop, None
            thread, self._thread = self._thread, None
        if loop is None or thread is None:
            return

        def shutdown() -> None:
            self._cancel_tasks()
            # Let the cancellations run (closing their sockets), then stop.
            loop.call_soon(loop.stop)

        loop.call_soon_threadsafe(shutdown)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()

    @staticmethod
    def _call(loop: asyncio.AbstractEventLoop, fn, *args) -> bool:
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # that loop is closed: nobody is left to tell
            return False
        return True

    # -- on the caller's loop -------------------------------------------------------------

    def _deliver(self, caller: asyncio.AbstractEventLoop) -> None:
        """Resolve up to RESULT_BATCH results; the rest on the next turn, after the loop's I/O."""
        with self._box_lock:
            box = self._outbox.get(caller, [])
            batch = box[:RESULT_BATCH]
            del box[:RESULT_BATCH]
            if not box:
                self._outbox.pop(caller, None)
        if box:
            caller.call_soon(self._deliver, caller)
        for job, result in batch:
            future = job.future
            if future.done():
                continue  # the caller gave up on it
            if isinstance(result, SendResult):
                future.set_result(result)
            elif isinstance(result, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(result)

    # -- on the sender's thread ---------------------------------------------------------

    def _start_jobs(self) -> None:
        with self._box_lock:
            jobs, self._inbox = self._inbox, []
        loop = asyncio.get_running_loop()
        for job in jobs:
            if not job.cancelled:
                job.task = loop.create_task(self._run_job(job))

    def _cancel_job(self, job: _Job) -> None:
        job.cancelled = True  # if it has not started yet, it never will
        if job.task is not None:
            job.task.cancel()

    async def _run_job(self, job: _Job) -> None:
        result: SendResult | BaseException
        try:
            result = await self._post(job.url, job.body, job.headers, job.timeout_s)
        except asyncio.CancelledError as exc:  # cancel_all(), close() or the caller's cancellation
            self._reply(job, exc)
            raise
        except Exception as exc:  # a bug here: the dispatcher logs it instead of waiting forever
            result = exc
        self._reply(job, result)

    def _reply(self, job: _Job, result: SendResult | BaseException) -> None:
        caller = job.caller
        with self._box_lock:
            box = self._outbox.setdefault(caller, [])
            box.append((job, result))
            wake = len(box) == 1
        if wake and not self._call(caller, self._deliver, caller):
            with self._box_lock:
                self._outbox.pop(caller, None)  # its loop is gone: keep nothing for it

    async def _post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> SendResult:
        import h11

        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        t0 = monotonic()
        phase = "connecting"
        transport: asyncio.Transport | None = None
        try:
            parts = urlsplit(url)
            scheme, host = parts.scheme, parts.hostname
            if scheme not in ("http", "https") or not host:
                return SendResult(None, f"ValueError: not an http(s) URL: {url!r}", 0.0)
            port = parts.port or (443 if scheme == "https" else 80)
            target = _target(parts.path, parts.query)
            async with asyncio.timeout(timeout_s):
                tls = self._tls_context() if scheme == "https" else None
                transport, reader = await asyncio.get_running_loop().create_connection(
                    _Reader, host, port, ssl=tls, server_hostname=host if tls else None
                )
                phase = "waiting for the answer"
                conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
                transport.write(_request(conn, target, _host_header(parts.netloc), headers, body))
                status = await _read_status(conn, reader)
            return SendResult(status, None, _ms(t0))
        except TimeoutError:
            return SendResult(None, f"timeout {phase}", _ms(t0), timed_out=phase)
        except _Closed:
            return SendResult(None, f"connection closed {phase}", _ms(t0))
        except h11.RemoteProtocolError as exc:  # a malformed, oversized or unexpected answer
            return SendResult(None, f"invalid HTTP answer: {exc}", _ms(t0))
        except h11.LocalProtocolError as exc:  # a header h11 will not send (say a CR or LF in it)
            return SendResult(None, f"invalid request: {exc}", _ms(t0))
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            text = str(exc)
            return SendResult(None, f"{type(exc).__name__}: {text}" if text else type(exc).__name__, _ms(t0))
        finally:
            self._tasks.discard(task)
            if transport is not None:
                transport.abort()  # no lingering close handshake: the attempt is over

    def _tls_context(self) -> ssl.SSLContext:
        # Built once, on this thread: loading the CA bundle takes ~0.1 s.
        if self._ssl is None:
            import certifi

            self._ssl = ssl.create_default_context(cafile=certifi.where())
        return self._ssl


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (uvicorn[standard] brings it), else asyncio's.

    In a storm this thread opens a connection per attempt; on asyncio's selector loop that
    bookkeeping is Python (about two thirds of the server's CPU in a 1,000-delivery storm,
    profiled), and every bit of it holds the GIL the API's loop is waiting for.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is absent on Windows and PyPy
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _ms(t0: float) -> float:
    return (monotonic() - t0) * 1000


def _host_header(netloc: str) -> str:
    host = netloc.rpartition("@")[2]  # never send userinfo
    return host if host.isascii() else host.encode("idna").decode("ascii")


def _target(path: str, query: str) -> str:
    # A callback_url may hold spaces or non-ASCII; the request line may not.
    target = quote(path or "/", safe=_SAFE)
    return f"{target}?{quote(query, safe=_SAFE + '?')}" if query else target


_SAFE = "/%:@!$&'()*+,;=-._~"


def _request(conn: h11.Connection, target: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """The whole request, head and body, framed by ``conn`` (which then expects the answer)."""
    import h11

    head = [("Host", host), ("Content-Length", str(len(body))), ("Connection", "close"), *headers.items()]
    request = h11.Request(method="POST", target=target, headers=head)
    return b"".join((conn.send(request), conn.send(h11.Data(data=body)), conn.send(h11.EndOfMessage())))


class _Closed(Exception):
    """The receiver closed the connection before its answer's head was complete."""


class _Reader(asyncio.Protocol):
    """What an attempt reads its answer with: asyncio's ``StreamReader.read(n)`` as far as it is
    used here (data in the order it came, at most ``n`` bytes a call, ``b""`` at the end, the
    connection's error once it is lost with one), without the stream classes around it.

    ``asyncio.open_connection`` builds a StreamReader, a StreamReaderProtocol and a StreamWriter per
    connection, with their futures and weak references: in a storm that was about an eighth of the
    sender thread's time (py-spy), for one write and a read or two.
    """

    __slots__ = ("_buffer", "_eof", "_error", "_waiter", "_transport", "_paused", "_over_ssl")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.Transport | None = None
        self._paused = False
        self._over_ssl = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._over_ssl = transport.get_extra_info("sslcontext") is not None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._wake()
        # As a StreamReader with limit=MAX_HEAD_BYTES: stop reading past twice that.
        transport = self._transport
        if not self._paused and transport is not None and len(self._buffer) > 2 * MAX_HEAD_BYTES:
            try:
                transport.pause_reading()
            except NotImplementedError:  # pragma: no cover - a transport that cannot pause
                self._transport = None
            else:
                self._paused = True

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return not self._over_ssl  # as StreamReaderProtocol: keep a plain socket open for writing

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self._eof = True
        else:
            self._error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes as they come; ``b""`` once the receiver has closed its side."""
        while True:
            if self._error is not None:
                raise self._error
            buffer = self._buffer
            if buffer:
                data = bytes(buffer[:n])
                del buffer[:n]
                if self._paused and len(buffer) <= MAX_HEAD_BYTES and self._transport is not None:
                    self._paused = False
                    self._transport.resume_reading()
                return data
            if self._eof:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


async def _read_status(conn: h11.Connection, reader: _Reader) -> int:
    """The status code of the answer (its head is read; the body is not needed)."""
    import h11

    while True:
        event = conn.next_event()  # raises h11.RemoteProtocolError on a malformed or oversized head
        if event is h11.NEED_DATA:
            data = await reader.read(READ_CHUNK)  # the deadline bounds a receiver that never ends its head
            if not data:
                raise _Closed
            conn.receive_data(data)
        elif type(event) is h11.Response:
            return event.status_code
        # An h11.InformationalResponse (1xx: a receiver may send 100 Continue unasked): the real
        # answer follows. (An unasked 101 is a RemoteProtocolError: nothing proposed a switch.)
