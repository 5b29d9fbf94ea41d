"""Running the app on uvicorn: bound before start (port 0 safe), in the foreground or a thread."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
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


def make_server(
    app,
    log_level: str = "warning",
    access_log: bool = False,
    on_started: Callable[[], None] | None = None,
    **options,
) -> uvicorn.Server:
    """A uvicorn server for ``app``; ``on_started`` runs once it answers; ``options`` are more
    uvicorn.Config arguments (http=...)."""
    # A scenario's `hang` fault holds connections open; on shutdown, wait for them only briefly.
    options.setdefault("timeout_graceful_shutdown", 3)
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
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        on_exit = getattr(getattr(self.app, "state", None), "on_exit", None)
        if on_exit is not None:
            on_exit()
        self._thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
