"""Cheap webhook receivers on loopback port 0, for storm tests and benchmarks.

Each runs a raw asyncio server on its own thread and loop, so a thousand deliveries cost the
process that hosts it little (no framework per request) and never share a loop with the mock.
``behaviour``: ``"ok"`` answers 200 at once, ``"hang"`` reads the request and never answers,
an int answers that status. ``refusing_url()`` is a port that refuses connections.
``ReceiverProcess`` runs a ``RawReceiver`` in a process of its own (``python -m
mockserver.testing.receivers ok``), for measurements the receiver's work must not disturb.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading

__all__ = ["RawReceiver", "ReceiverProcess", "refusing_url"]


class RawReceiver:
    """A webhook receiver that counts the requests it got, on its own thread."""

    def __init__(self, behaviour: str | int = "ok") -> None:
        self.behaviour = behaviour
        self.count = 0
        self.connections = 0
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._handlers: set[asyncio.Task] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="raw-receiver", daemon=True)
        self.url = ""

    def start(self) -> RawReceiver:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.url = fut.result(10)
        return self

    async def _start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=4096)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        assert me is not None
        self._handlers.add(me)
        with self._cond:
            self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                with self._cond:
                    self.count += 1
                    self._cond.notify_all()
                if self.behaviour == "hang":
                    await asyncio.Event().wait()  # until the client gives up or we stop
                status = 200 if self.behaviour == "ok" else int(self.behaviour)
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(me)
            writer.close()

    def wait_for(self, n: int, timeout: float) -> bool:
        """True once ``n`` requests have arrived, False at the deadline."""
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= n, timeout)

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            handlers = list(self._handlers)
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> RawReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def refusing_url() -> tuple[str, socket.socket]:
    """A loopback URL whose port refuses connections (bound, never listening), and its socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return f"http://127.0.0.1:{sock.getsockname()[1]}/hook", sock


class ReceiverProcess:
    """A ``RawReceiver`` in a child process: what it does for a storm's thousand requests costs the
    process that measures the API nothing (its threads would share that process's GIL).

    ``url`` once started; ``count`` asks the child how many requests it got so far.
    """

    def __init__(self, behaviour: str | int = "ok") -> None:
        self.behaviour = behaviour
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> ReceiverProcess:
        cmd = [sys.executable, "-m", "mockserver.testing.receivers", str(self.behaviour)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the receiver process did not start: {self.url!r}")
        return self

    @property
    def count(self) -> int:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("count\n")
        proc.stdin.flush()
        return int(proc.stdout.readline())

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # end of input: the child stops its receiver and exits
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ReceiverProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(behaviour: str) -> None:
    """The child of ``ReceiverProcess``: print the URL, then the count for each line read."""
    with RawReceiver(int(behaviour) if behaviour.isdigit() else behaviour) as receiver:
        print(receiver.url, flush=True)
        for _ in sys.stdin:
            print(receiver.count, flush=True)


if __name__ == "__main__":
    _serve(sys.argv[1] if len(sys.argv) > 1 else "ok")
