"""/__admin/events: the live stream, in order for a reader, bounded for a subscriber that never reads."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
import pytest

from mockserver.http import events
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from tests.conftest import KEY, START_MS, example_input

H = {"Authorization": f"Bearer {KEY}"}


def read_events(response: httpx.Response):
    """(event, data) pairs of a text/event-stream response, as they arrive."""
    kind, data = None, []
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and kind is not None:
            yield kind, json.loads("".join(data))
            kind, data = None, []


def record(journal, n: int) -> None:
    for i in range(n):
        journal.record(time=START_MS, method="GET", path=f"/x/{i}", query="", key=KEY, status=200)


def test_a_subscriber_that_never_reads_holds_a_bounded_queue_and_counts_what_it_missed():
    app = create_app(clock="manual", start_ms=START_MS)
    mock, hub = app.state.mock, app.state.events

    async def run():
        sub = hub.subscribe()
        record(mock.journal, 10_000)
        assert sub.queue.qsize() == events.QUEUE_SIZE  # never more than its queue
        assert sub.dropped == 10_000 - events.QUEUE_SIZE
        stream = hub.stream(sub)
        assert "event: hello\n" in await anext(stream)
        got = ""
        while "event: dropped" not in got:
            got += await anext(stream)
        ids = [json.loads(line[6:])["id"] for line in got.splitlines() if line.startswith('data: {"id"')]
        assert ids == list(range(1, events.QUEUE_SIZE + 1))  # the oldest, in order; the gap after them
        assert f'data: {{"count":{10_000 - events.QUEUE_SIZE}}}' in got
        await stream.aclose()
        assert hub.subscribers == set()

    asyncio.run(run())


def test_without_subscribers_the_journal_calls_only_its_own_observer():
    app = create_app(clock="manual", start_ms=START_MS)
    mock, hub = app.state.mock, app.state.events
    observer = mock.journal._observer

    async def run():
        sub = hub.subscribe()
        assert mock.journal._observer is not observer  # fanned out while someone listens
        hub.unsubscribe(sub)

    asyncio.run(run())
    assert mock.journal._observer is observer  # and the request path is as before once nobody does


@pytest.fixture
def server():
    app = create_app(clock="manual", start_ms=START_MS, admin_token="tok")
    with ServerThread(app) as srv:
        yield srv


ADMIN = {"Authorization": "Bearer tok"}


def test_the_stream_needs_the_admin_token(server):
    r = httpx.get(f"{server.url}/__admin/events", timeout=10)
    assert r.status_code == 401


def test_a_reader_sees_requests_callbacks_clock_and_resets_in_order(server):
    with (
        httpx.Client(base_url=server.url, timeout=10) as api,
        httpx.stream("GET", f"{server.url}/__admin/events", headers=ADMIN, timeout=10) as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        got = read_events(stream)
        kind, hello = next(got)
        assert kind == "hello" and hello["now"] == START_MS
        body = {"input": example_input("nano-banana")}
        tid = api.post("/api/v1/generateTask/nano-banana", json=body, headers=H).json()["data"]["taskId"]
        api.get("/api/v1/statusTask/nano-banana", params={"taskId": tid}, headers=H)
        api.post("/__admin/clock/advance", json={"to": "idle"}, headers=ADMIN)
        api.get("/api/v1/statusTask/nano-banana", params={"taskId": tid}, headers=H)
        api.post("/__admin/reset", headers=ADMIN)
        api.get("/api/v1/apikeys/current-balance", headers=H)
        seen = [next(got) for _ in range(6)]
    kinds = [k for k, _ in seen]
    assert kinds == ["request", "request", "clock", "request", "reset", "request"], kinds
    requests = [d for k, d in seen if k == "request"]
    assert [(r["method"], r["path"].rsplit("/", 1)[-1], r["status"]) for r in requests] == [
        ("POST", "nano-banana", 200),
        ("GET", "nano-banana", 200),
        ("GET", "nano-banana", 200),
        ("GET", "current-balance", 200),
    ]
    assert [r["state"] for r in requests[:3]] == [None, "pending", "success"]
    assert requests[0]["key"] == "****_key"  # masked
    assert [r["id"] for r in requests] == [1, 2, 3, 1]  # the journal starts again after the reset
    assert seen[2][1]["unfinished"] == 0


def test_a_stalled_subscriber_does_not_slow_the_api():
    app = create_app(clock="manual", start_ms=START_MS, admin_token="tok")
    server = ServerThread(app)
    # Small kernel buffers (accepted sockets inherit them), so the stalled stream backs up after
    # a few hundred events rather than the megabytes loopback would otherwise hold.
    server.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hub = app.state.events
    with server:
        host, port = server.url.removeprefix("http://").split(":")
        sock.connect((host, int(port)))
        # It asks for the stream and never reads: its socket fills, then its queue.
        sock.sendall(f"GET /__admin/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer tok\r\n\r\n".encode())
        try:
            with httpx.Client(base_url=server.url, timeout=10) as api:
                assert api.get("/__admin/health", headers=ADMIN).status_code == 200
                slowest = 0.0
                for _ in range(5000):
                    start = time.perf_counter()
                    assert api.get("/api/v1/apikeys/current-balance", headers=H).status_code == 200
                    slowest = max(slowest, time.perf_counter() - start)
                    if any(sub.dropped for sub in hub.subscribers):
                        break
            (sub,) = hub.subscribers
            assert sub.dropped > 0  # it fell behind, and the server let it
            assert sub.queue.qsize() <= events.QUEUE_SIZE  # holding no more than its queue
            assert slowest < 2.0  # no request waited for the stalled reader
        finally:
            sock.close()
