"""The server's protocol writes a fast-path status answer's head and body at once (ONE_WRITE), the
same bytes as two writes, and writes every other answer as uvicorn does.

Driven in-process: uvicorn's protocol (as ``make_server`` guards it) fed raw requests, writing to a
transport that records each write."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from mockserver.http.app import create_app
from mockserver.http.fastpath import ONE_WRITE
from mockserver.http.server import _OneWrite, make_server
from tests.conftest import START_MS, example_input


class Transport:
    """What uvicorn's protocol asks of a transport; each write kept apart."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Connection:
    """One connection to ``app`` through the guarded uvicorn protocol (``http``: httptools or h11)."""

    def __init__(self, app, http: str) -> None:
        config = make_server(app, http=http).config
        config.load()
        from uvicorn.server import ServerState

        self.protocol = config.http_protocol_class(config=config, server_state=ServerState(), app_state={})
        self.transport = Transport()
        self.protocol.connection_made(self.transport)

    async def exchange(self, raw: bytes) -> list[bytes]:
        """The writes that answer ``raw`` (one request)."""
        before = len(self.transport.writes)
        self.protocol.data_received(raw)
        for _ in range(1000):
            cycle = self.protocol.cycle
            if cycle is not None and cycle.response_complete:
                break
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        return self.transport.writes[before:]


def request(method: str, target: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: mock", "Authorization: Bearer sk_a"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def served(http: str, fast_path: bool) -> list[list[bytes]]:
    """The writes of each answer: a submit, polls (found, unknown, unauthenticated), a health check."""
    app = create_app(clock="manual", seed=5, start_ms=START_MS, fast_path=fast_path)

    async def go() -> list[list[bytes]]:
        conn = Connection(app, http)
        body = json.dumps({"input": example_input("nano-banana")}).encode()
        submit = await conn.exchange(request("POST", "/api/v1/generateTask/nano-banana", body))
        task_id = json.loads(submit[-1] if submit[-1] else submit[-2])["data"]["taskId"]
        answers = [submit]
        for target in (f"/api/v1/statusTask/nano-banana?taskId={task_id}", "/api/v1/statusTask/nano-banana?taskId=x"):
            answers.append(await conn.exchange(request("GET", target)))
        answers.append(await conn.exchange(b"GET /api/v1/statusTask/nano-banana?taskId=x HTTP/1.1\r\nHost: m\r\n\r\n"))
        answers.append(await conn.exchange(request("GET", "/__admin/health")))
        return answers

    return asyncio.run(go())


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_fast_path_answer_is_one_write_of_the_same_bytes(http):
    fast, slow = served(http, True), served(http, False)
    # The same bytes, answer by answer (no date header: the protocol runs without the server).
    assert [b"".join(w) for w in fast] == [b"".join(w) for w in slow]
    polls = fast[1:4]
    assert [len([w for w in writes if w]) for writes in polls] == [1, 1, 1]
    assert all(len([w for w in writes if w]) == 2 for writes in slow[1:4])  # the full stack: head, then body
    assert len([w for w in fast[4] if w]) == 2  # any other answer is written as uvicorn writes it


class Cycle:
    def __init__(self, transport) -> None:
        self.transport = transport


def test_the_head_is_held_until_the_body_then_the_cycle_writes_straight():
    transport = Transport()
    cycle = Cycle(transport)
    cycle.transport = _OneWrite(cycle)
    cycle.transport.write(b"HEAD\r\n\r\n")
    assert transport.writes == []
    cycle.transport.write(b"body")
    assert transport.writes == [b"HEAD\r\n\r\nbody"]
    assert cycle.transport is transport


def test_a_held_head_is_written_before_a_close_and_at_the_end_of_an_answer_without_body():
    transport = Transport()
    cycle = Cycle(transport)
    cycle.transport = held = _OneWrite(cycle)
    held.write(b"HEAD\r\n\r\n")
    assert cycle.transport.is_closing() is False  # anything else is the transport's
    cycle.transport.close()
    assert transport.writes == [b"HEAD\r\n\r\n"] and transport.closed and cycle.transport is transport

    async def head_only(scope, receive, send):
        scope[ONE_WRITE](scope)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"four"})  # not written: a HEAD request

    async def go() -> tuple[list[bytes], list[bytes]]:
        conn = Connection(head_only, "httptools")
        head = await conn.exchange(b"HEAD / HTTP/1.1\r\nHost: m\r\n\r\n")
        return head, await conn.exchange(b"GET / HTTP/1.1\r\nHost: m\r\n\r\n")

    head, get = asyncio.run(go())
    assert len(head) == 1 and head[0].startswith(b"HTTP/1.1 200 OK\r\n") and head[0].endswith(b"\r\n\r\n")
    assert get == [head[0] + b"four"]


def test_only_the_calling_request_and_only_before_its_head_is_held():
    async def late(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        scope[ONE_WRITE](scope)  # too late: the head is out
        await send({"type": "http.response.body", "body": b"four"})

    async def go() -> list[bytes]:
        return await Connection(late, "httptools").exchange(b"GET / HTTP/1.1\r\nHost: m\r\n\r\n")

    writes = asyncio.run(go())
    assert len(writes) == 2 and writes[1] == b"four"


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_pipelined_polls_are_answered_in_order_with_the_same_bytes(http):
    def answers(fast_path: bool) -> bytes:
        app = create_app(clock="manual", seed=5, start_ms=START_MS, fast_path=fast_path)

        async def go() -> bytes:
            conn = Connection(app, http)
            body = json.dumps({"input": example_input("nano-banana")}).encode()
            submit = b"".join(await conn.exchange(request("POST", "/api/v1/generateTask/nano-banana", body)))
            task_id = json.loads(submit.partition(b"\r\n\r\n")[2])["data"]["taskId"]
            polls = [request("GET", f"/api/v1/statusTask/nano-banana?taskId={t}") for t in (task_id, "x", task_id)]
            before = len(conn.transport.writes)
            conn.protocol.data_received(b"".join(polls))  # three requests in one read
            for _ in range(1000):
                out = b"".join(conn.transport.writes[before:])
                if out.count(b"HTTP/1.1 ") == 3 and conn.protocol.cycle.response_complete:
                    break
                await asyncio.sleep(0)
            return b"".join(conn.transport.writes[before:])

        return asyncio.run(go())

    fast = answers(True)
    assert fast == answers(False)
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", fast) == [b"200", b"404", b"200"]
