"""Webhook storms against a live server: ``mockserver serve`` in its own process (the API's
latency is measured from outside it, as a client feels it), receivers on loopback.

1,000 deliveries fall due at one virtual moment; meanwhile status polls must keep answering
fast, and afterwards the next delivery to a healthy receiver must arrive. No test sleeps: the
storm is one ``clock/advance`` in a thread, and the poller runs until that call returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from mockserver.testing.receivers import RawReceiver, ReceiverProcess, refusing_url

KEY = "sk_storm"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"input": {"mode": "text-to-image", "prompt": "storm"}}
STORM = 1_000
POLLERS = 4  # connections polling a status during a storm
P99_MS = 50.0
# Status p99 during a 1,000-delivery storm (issue 16). Measured by POLLERS raw connections, the
# receiver in its own process: hundreds to thousands of polls per storm; on this 2-core machine,
# quiet, 7-30 ms (docs/performance.md).
END_MS = 10_000  # every storm task ends this long after its submit (pending 0)
# Deadlines in real time (a storm within 4 timeouts, a stop within 2 s): under pytest-xdist these
# tests run while the other workers wait (tests/conftest.py), not against the suite's own load.
pytestmark = pytest.mark.wall_clock


def scenario(timeout_ms: int, retries: int = 0) -> dict:
    return {
        "name": "storm",
        "limits": {"requests_per_minute": 10**9, "concurrent_tasks": 10**9},
        "models": {"nano-banana": {"pending_ms": 0, "processing_ms": END_MS}},
        "callbacks": {"retries": retries, "backoff_ms": [1_000], "timeout_ms": timeout_ms},
    }


def serve(*extra: str) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--clock", "manual", *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:  # the banner comes first; the socket is listening by then
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise AssertionError("mockserver serve did not start")


@pytest.fixture(scope="module")
def server():
    proc, url = serve()
    yield url
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server, headers=AUTH, timeout=30) as c:
        yield c


def load(client: httpx.Client, timeout_ms: int, retries: int = 0) -> None:
    r = client.put("/__admin/scenario", json=scenario(timeout_ms, retries))
    assert r.status_code == 200, r.text


def submit_many(url: str, n: int, callback_url: str, connections: int = 4) -> None:
    """``n`` callback tasks, all ending at the same virtual moment (the manual clock stands still).

    Pipelined on a few keep-alive connections: the setup costs the server's submit time, not
    a client's round trips.
    """
    body = json.dumps({**BODY, "request_type": "callback", "callback_url": callback_url}).encode()
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"POST /api/v1/generateTask/nano-banana HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def one(count: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request * count)
        for _ in range(count):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
        writer.close()

    async def run() -> None:
        share, rest = divmod(n, connections)
        await asyncio.gather(*(one(share + (i < rest)) for i in range(connections)))

    asyncio.run(run())


def storm(client: httpx.Client, url: str) -> tuple[list[float], float]:
    """Advance past every task's end in a thread; poll a status meanwhile. (poll latencies ms, advance s)."""
    probe = client.post("/api/v1/generateTask/nano-banana", json=BODY).json()["data"]["taskId"]
    done = threading.Event()
    took: list[float] = []
    errors: list[BaseException] = []

    def advance() -> None:
        t0 = time.monotonic()
        try:
            with httpx.Client(base_url=url, timeout=60) as admin:
                r = admin.post("/__admin/clock/advance", json={"ms": END_MS + 5_000})
                assert r.status_code == 200, r.text
        except BaseException as exc:  # kept for the test thread
            errors.append(exc)
        took.append(time.monotonic() - t0)
        done.set()

    thread = threading.Thread(target=advance, daemon=True)
    thread.start()
    latencies = asyncio.run(poll_until(url, f"/api/v1/statusTask/nano-banana?taskId={probe}", done))
    thread.join()
    if errors:
        raise errors[0]
    return latencies, took[0]


async def poll_until(url: str, path: str, done: threading.Event, connections: int = POLLERS) -> list[float]:
    """GET ``path`` without pause on ``connections`` keep-alive connections until ``done``: each
    answer's latency in ms. Raw HTTP/1.1 on one event loop, so the client's own cost per poll is
    small next to what it measures, and p99 rests on a few hundred polls, not one storm's worst few."""
    host, port = url.removeprefix("http://").split(":")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode()
    latencies: list[float] = []

    async def one() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while not done.is_set():
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert head.startswith(b"HTTP/1.1 200"), head
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return latencies


def p99(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def outcomes(client: httpx.Client) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in client.get("/__admin/callbacks").json()["attempts"]:
        counts[a["outcome"]] = counts.get(a["outcome"], 0) + 1
    return counts


def next_delivery_arrives(client: httpx.Client, healthy: RawReceiver) -> bool:
    body = {**BODY, "request_type": "callback", "callback_url": healthy.url}
    assert client.post("/api/v1/generateTask/nano-banana", json=body).status_code == 200
    assert client.post("/__admin/clock/advance", json={"ms": END_MS}).status_code == 200
    return healthy.wait_for(1, 5)  # the advance answered after the attempt: it is there already


def test_a_healthy_receiver_gets_all_1000_and_the_api_keeps_answering(server, client):
    with RawReceiver("ok") as receiver:
        load(client, timeout_ms=5_000)
        submit_many(server, STORM, receiver.url)
        latencies, _ = storm(client, server)
        assert receiver.count == STORM  # the advance answered once every attempt was made
        assert outcomes(client) == {"delivered": STORM}
    assert len(latencies) >= 5  # polls were answered while the storm ran
    assert max(latencies) < 2_000  # before: no answer at all for minutes


@pytest.mark.parametrize("kind", ["ok", "hang", "refuse"])
def test_status_p99_stays_under_50_ms_during_a_storm(server, client, kind):
    if kind == "refuse":
        target, sock = refusing_url()
        with contextlib.closing(sock):
            load(client, timeout_ms=2_000)
            submit_many(server, STORM, target)
            latencies, _ = storm(client, server)
        assert outcomes(client) == {"failed": STORM}
    else:
        # The receiver in a process of its own: its thousand answers must not share this
        # process's GIL with the poller, or the test measures itself.
        with ReceiverProcess(kind) as receiver:
            load(client, timeout_ms=2_000)
            submit_many(server, STORM, receiver.url)
            latencies, _ = storm(client, server)
            assert receiver.count == STORM
    assert p99(latencies) < P99_MS, f"status p99 {p99(latencies):.1f} ms during the storm"


@pytest.mark.parametrize("kind", ["hang", "refuse"])
def test_a_failing_receiver_neither_stalls_the_api_nor_breaks_the_next_delivery(server, client, kind):
    timeout_ms = 1_000
    sock = None
    receiver = RawReceiver("hang").start() if kind == "hang" else None
    if receiver is not None:
        target = receiver.url
    else:
        target, sock = refusing_url()
    try:
        load(client, timeout_ms=timeout_ms)
        submit_many(server, STORM, target)
        latencies, took = storm(client, server)
        # All at once, each within its own deadline: about one timeout, never N x timeout.
        assert took < 4 * timeout_ms / 1000
        assert outcomes(client) == {"failed": STORM}
        assert max(latencies) < 2_000
        with RawReceiver("ok") as healthy:
            assert next_delivery_arrives(client, healthy)
    finally:
        if receiver is not None:
            receiver.stop()
        if sock is not None:
            sock.close()


def test_reset_during_a_storm_cancels_it_and_the_next_delivery_arrives(server, client):
    with RawReceiver("hang") as receiver, RawReceiver("ok") as healthy:
        load(client, timeout_ms=5_000)
        submit_many(server, 200, receiver.url)
        advancing = threading.Thread(
            target=lambda: httpx.post(f"{server}/__admin/clock/advance", json={"ms": END_MS}, timeout=30),
            daemon=True,
        )
        t0 = time.monotonic()
        advancing.start()
        assert receiver.wait_for(200, 10)  # all 200 are held by the receiver
        load(client, timeout_ms=5_000)  # PUT scenario resets: the attempts in flight are cancelled
        advancing.join(10)
        assert not advancing.is_alive() and time.monotonic() - t0 < 4.5  # before their 5 s timeout
        assert outcomes(client) == {}  # a cancelled attempt of an older run logs nothing
        assert next_delivery_arrives(client, healthy)


def test_ctrl_c_stops_within_2_s_with_deliveries_pending():
    with RawReceiver("hang") as receiver:
        proc, url = serve()
        try:
            with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
                load(client, timeout_ms=30_000)  # capped at 5 s of real time on a manual clock
                submit_many(url, STORM, receiver.url)
                threading.Thread(
                    target=lambda: httpx.post(f"{url}/__admin/clock/advance", json={"ms": END_MS}, timeout=30),
                    daemon=True,
                ).start()
                assert receiver.wait_for(100, 10)  # deliveries in flight, held by the receiver
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(5)
            assert time.monotonic() - t0 < 2.0
            assert proc.returncode == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
