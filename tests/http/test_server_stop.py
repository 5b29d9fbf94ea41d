"""Stopping a server: at once, yet every request in flight answered.

uvicorn notices a stop at its next 0.1 s tick and then waits in 0.1 s steps; ours is woken by
the stop (or the signal) itself. These tests make the tick an hour long: a server that waited
for it would still be running when ``stop()`` gives up joining its thread (10 s), so each
assertion fails clearly rather than slowly.
"""

from __future__ import annotations

import signal
import threading

import httpx
import pytest

from mockserver.core.clock import monotonic
from mockserver.http import server as server_module
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread

KEY = "sk_stop"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(autouse=True)
def hour_long_tick(monkeypatch):
    monkeypatch.setattr(server_module, "_TICK_S", 3600.0)


def stopped(thread: ServerThread) -> bool:
    return not thread._thread.is_alive()


def test_stop_wakes_the_server_without_waiting_for_its_tick():
    server = ServerThread(create_app(clock="manual")).start()
    with httpx.Client(base_url=server.url) as client:  # kept open: an idle keep-alive connection
        assert client.get("/__admin/health").status_code == 200
        server.stop()
        assert stopped(server)
    assert server.error is None


def test_a_signal_wakes_the_server_without_waiting_for_its_tick():
    server = ServerThread(create_app(clock="manual")).start()
    assert httpx.get(f"{server.url}/__admin/health").status_code == 200
    uvicorn_server = server.server
    assert uvicorn_server._loop is not None  # the main loop has begun: it answered
    # As the signal handler would run it: in the loop's thread, on SIGTERM.
    uvicorn_server._loop.call_soon_threadsafe(uvicorn_server.handle_exit, signal.SIGTERM, None)
    server._thread.join(10)
    assert stopped(server)
    assert uvicorn_server.should_exit and not uvicorn_server.force_exit
    server.stop()


def test_a_request_in_flight_when_stopped_is_answered_before_the_server_ends():
    server = ServerThread(create_app(clock="manual")).start()
    doc = {"rules": [{"when": {"endpoint": "balance"}, "delay": {"ms": 300}}]}
    assert httpx.put(f"{server.url}/__admin/scenario", json=doc).status_code == 200
    answers: list[int] = []

    def call() -> None:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as c:
            answers.append(c.get("/api/v1/apikeys/current-balance").status_code)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = monotonic() + 5
    while httpx.get(f"{server.url}/__admin/rules").json()["rules"][0]["acts"] == 0:
        assert monotonic() < deadline, "the request never reached the server"
    server.stop()  # while the request is held back by its delay
    caller.join(10)
    assert answers == [200]
    assert stopped(server)
    assert server.error is None


def test_a_connection_that_outlives_the_grace_period_is_cut_and_the_server_still_ends():
    """A ``hang`` fault holds its request past ``timeout_graceful_shutdown``: the server cancels it."""
    app = create_app(clock="manual")
    server = ServerThread(app, timeout_graceful_shutdown=0.2).start()
    doc = {"rules": [{"when": {"endpoint": "balance"}, "fault": "hang"}]}
    assert httpx.put(f"{server.url}/__admin/scenario", json=doc).status_code == 200
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as c:
                outcome.append(c.get("/api/v1/apikeys/current-balance").status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = monotonic() + 5
    while httpx.get(f"{server.url}/__admin/rules").json()["rules"][0]["acts"] == 0:
        assert monotonic() < deadline, "the request never reached the server"
    server.stop()
    assert stopped(server)
    caller.join(10)
    # Cut, not served: uvicorn answers a request it cancels 500 when nothing was sent yet (as its
    # own shutdown does), or the connection drops.
    assert len(outcome) == 1 and (outcome[0] == 500 or isinstance(outcome[0], httpx.HTTPError)), outcome
