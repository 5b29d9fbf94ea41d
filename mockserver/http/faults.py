"""Delays and network faults, as ASGI-level behaviour around an already computed response.

A handler that decides on a delay or a fault leaves a Plan in the request scope
(``plan()``); ``FaultMiddleware`` holds the response back and delivers it the way the
plan says: late, cut short, dribbled, mangled, or not at all.

Closing or resetting a connection has no ASGI message. Under uvicorn (httptools or
h11) the request's ``receive`` is a bound method of the connection's request cycle,
which holds the asyncio transport: ``ServerConnection`` (outermost) remembers that
cycle, and the fault closes its transport (empty_response, truncated_body), sets
SO_LINGER 0 first so the close is a TCP reset (connection_reset), or leaves the
connection open until the client gives up (hang). With no socket (an in-process
client such as Starlette's TestClient or httpx.ASGITransport) the fault raises the
httpx exception a real client would have seen, so the same test code works in both.
"""

from __future__ import annotations

import socket
import struct
import weakref
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.types import Scope

from mockserver.scenarios.rules import Fault

__all__ = [
    "FaultMiddleware",
    "Plan",
    "ServerConnection",
    "inprocess_error",
    "is_injected",
    "plan",
    "remember_connection",
]

PLAN_KEY = "mockserver.plan"
CYCLE_KEY = "mockserver.connection"
# After closing a connection, how long to wait for the server to notice (it is at once).
_NOTICE_S = 5.0


@dataclass(slots=True)
class Plan:
    delay_ms: int | None = None
    fault: Fault | None = None


def plan(scope: Scope, delay_ms: int | None, fault: Fault | None) -> None:
    """Ask FaultMiddleware to delay this request's answer and/or deliver it with a fault."""
    if delay_ms or fault is not None:
        scope[PLAN_KEY] = Plan(delay_ms or None, fault)


def _server_cycle(fn: Any) -> Any:
    owner = getattr(fn, "__self__", None)
    if owner is not None and hasattr(owner, "transport") and hasattr(owner, "disconnected"):
        return owner
    return None


class ServerConnection:
    """Outermost middleware: remembers uvicorn's request cycle (and so the socket) in the scope.

    Starlette wraps ``send`` before any user middleware runs but passes ``receive``
    through, so the first middleware in the list still sees the server's own receive.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            remember_connection(scope, receive, send)
        await self.app(scope, receive, send)


def remember_connection(scope: dict, receive: Any, send: Any) -> None:
    """Put the server's request cycle (and so the socket) in the scope, if there is one.

    By a weak reference: the cycle holds the scope, so the cycle itself in it would make every
    request a reference loop that only the garbage collector frees (the server holds the cycle
    until the request ends)."""
    cycle = _server_cycle(receive) or _server_cycle(send)
    if cycle is not None:
        try:
            scope[CYCLE_KEY] = weakref.ref(cycle)
        except TypeError:  # a server's cycle without weak references: kept as it is
            scope[CYCLE_KEY] = cycle


def _connection(scope: dict) -> Any:
    """The request cycle remember_connection put in the scope, or None (in-process)."""
    ref = scope.get(CYCLE_KEY)
    return ref() if type(ref) is weakref.ref else ref


class FaultMiddleware:
    """Delivers a planned response late, broken or not at all (see module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[dict] = []
        passing = False
        raised: list[BaseException] = []

        async def hold(message: dict) -> None:
            nonlocal passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start" and scope.get(PLAN_KEY) is None:
                passing = True
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                error = await deliver(scope, receive, send, scope[PLAN_KEY], held)
                if error is not None:
                    raised.append(error)

        await self.app(scope, receive, hold)
        if raised:
            # Raised after the app has finished, so no handler mistakes it for its own error.
            raise raised[0]


async def deliver(scope: dict, receive: Any, send: Any, how: Plan, held: list[dict]) -> BaseException | None:
    """Send the held response as planned; an in-process fault returns the error to raise."""
    start = held[0]
    body = b"".join(m.get("body", b"") for m in held[1:])
    if how.delay_ms:
        await anyio.sleep(how.delay_ms / 1000)
    fault = how.fault
    if fault is None:
        await send(start)
        await send({"type": "http.response.body", "body": body})
        return None
    kind = fault.kind
    cycle = _connection(scope)
    if kind == "malformed_json":
        broken = body[: len(body) // 2]
        await send(_with_length(start, len(broken)))
        await send({"type": "http.response.body", "body": broken})
        return None
    if kind == "slow_body":
        await send(start)
        step = max(1, fault.chunk_bytes)
        for offset in range(0, len(body), step):
            if offset:
                await anyio.sleep(fault.interval_ms / 1000)
            if cycle is not None and cycle.disconnected:
                return None  # the client gave up; nothing more to dribble
            await send(
                {
                    "type": "http.response.body",
                    "body": body[offset : offset + step],
                    "more_body": True,
                }
            )
        await send({"type": "http.response.body", "body": b""})
        return None
    half = len(body) // 2
    if cycle is None:
        return inprocess_error(kind, half, len(body))
    if kind == "truncated_body":
        # Headers promise the whole body (Content-Length stays), half of it comes, then the close.
        await send(start)
        await send({"type": "http.response.body", "body": body[:half], "more_body": True})
        cycle.transport.close()
    elif kind == "empty_response":
        cycle.transport.close()
    elif kind == "connection_reset":
        _reset(cycle.transport)
    elif kind == "hang":
        with anyio.move_on_after(fault.max_ms / 1000):
            await _disconnected(receive)
        if not cycle.disconnected:
            cycle.transport.close()  # the cap: nobody holds a connection forever
    with anyio.move_on_after(_NOTICE_S):
        # Returning before the server has seen the close would make uvicorn answer 500.
        await _disconnected(receive)
    return None


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _reset(transport: Any) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock = transport.get_extra_info("socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (AttributeError, OSError):
        transport.abort()
        return
    transport.close()


def _with_length(start: dict, length: int) -> dict:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(length).encode()))
    return {**start, "headers": headers}


def inprocess_error(kind: str, sent: int, total: int) -> BaseException:
    """The exception an httpx client gets from a real server for this fault."""
    error = _inprocess_error(kind, sent, total)
    # Marked, so the app's handler for its own bugs can tell an injected fault from one.
    error.mockserver_fault = kind  # type: ignore[attr-defined]
    return error


def is_injected(exc: BaseException) -> bool:
    """Whether ``exc`` is a scenario's fault raised in-process (not a bug of the mock)."""
    return getattr(exc, "mockserver_fault", None) is not None


def _inprocess_error(kind: str, sent: int, total: int) -> BaseException:
    import httpx

    if kind == "empty_response":
        return httpx.RemoteProtocolError("Server disconnected without sending a response.")
    if kind == "connection_reset":
        return httpx.ReadError("[Errno 104] Connection reset by peer")
    if kind == "truncated_body":
        return httpx.RemoteProtocolError(
            f"peer closed connection without sending complete message body (received {sent} bytes, expected {total})"
        )
    if kind == "hang":
        # No socket, so no client timeout can fire: answer at once with what it would raise.
        return httpx.ReadTimeout("timed out (in-process: a hung request times out at once)")
    raise ValueError(f"unknown fault {kind!r}")
