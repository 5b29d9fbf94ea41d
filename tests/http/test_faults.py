"""Network faults and delays, observed by a real httpx client against uvicorn (httptools and
h11), and in-process, where a fault raises the exception a real client would have seen."""

from __future__ import annotations

import gc
import json
import logging
import time

import httpx
import pytest

from mockserver.http import faults
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from mockserver.scenarios.loading import fault_kinds
from tests.conftest import KEY, START_MS, example_input, ssl_context

AUTH = {"Authorization": f"Bearer {KEY}"}
KINDS = list(fault_kinds())  # every fault the scenario schema allows
SLOW = {"slow_body": {"chunk_bytes": 24, "interval_ms": 15}}


class Recorder(logging.Handler):
    """uvicorn's error log does not reach pytest's caplog (it does not propagate): collect it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module", params=[("httptools", "uvloop"), ("h11", "asyncio")], ids=["httptools", "h11"])
def server(request):
    http, loop = request.param
    app = create_app(clock="manual", seed=1, start_ms=START_MS)
    with ServerThread(app, http=http, loop=loop) as srv:
        yield srv
    if srv.error is not None:
        raise srv.error


@pytest.fixture
def client(server):
    recorder = Recorder()
    log = logging.getLogger("uvicorn.error")
    log.addHandler(recorder)
    with httpx.Client(base_url=server.url, timeout=10, verify=ssl_context()) as c:
        yield c
    log.removeHandler(recorder)
    assert [r.getMessage() for r in recorder.records] == []  # no "returned without response", no 500


def load(client, doc: dict) -> None:
    resp = client.put("/__admin/scenario", json=doc)
    assert resp.status_code == 200, resp.text


def fault_on_first_poll(client, fault) -> str:
    load(client, {"rules": [{"when": {"endpoint": "statusTask", "nth": 1}, "fault": fault}]})
    resp = client.post(
        "/api/v1/generateTask/nano-banana",
        json={"input": example_input("nano-banana")},
        headers=AUTH,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["taskId"]


def poll(client, tid: str, **kw):
    return client.get("/api/v1/statusTask/nano-banana", params={"taskId": tid}, headers=AUTH, **kw)


def journal_entry(client, deadline_s: float = 5.0) -> dict:
    """The journal entry of the faulted poll; the server writes it once it has seen the close."""
    end = time.monotonic() + deadline_s
    while True:
        entries = [e for e in client.get("/__admin/journal").json()["entries"] if e["fault"]]
        if entries or time.monotonic() > end:
            assert entries, "no journal entry for the fault"
            return entries[0]
        time.sleep(0.01)  # waiting on the server's own bookkeeping, with a deadline


def check(kind: str, outcome, healthy: httpx.Response | dict) -> None:
    """What a client sees for each fault (live and in-process alike)."""
    good = healthy.json() if isinstance(healthy, httpx.Response) else healthy
    if kind == "empty_response":
        assert isinstance(outcome, httpx.RemoteProtocolError)
        assert "without sending a response" in str(outcome)
    elif kind == "connection_reset":
        assert isinstance(outcome, httpx.ReadError)
    elif kind == "truncated_body":
        assert isinstance(outcome, httpx.RemoteProtocolError)
        assert "complete message body" in str(outcome)
    elif kind == "hang":
        assert isinstance(outcome, httpx.ReadTimeout)
    elif kind == "malformed_json":
        assert isinstance(outcome, httpx.Response) and outcome.status_code == 200
        assert int(outcome.headers["content-length"]) == len(outcome.content) > 0
        with pytest.raises(json.JSONDecodeError):
            json.loads(outcome.content)
        assert json.dumps(good, separators=(",", ":")).startswith(outcome.text)
    elif kind == "slow_body":
        assert isinstance(outcome, httpx.Response) and outcome.status_code == 200
        assert outcome.json() == good


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_through_a_live_server(client, kind):
    tid = fault_on_first_poll(client, SLOW if kind == "slow_body" else kind)
    try:
        outcome = poll(client, tid, timeout=0.2 if kind == "hang" else 10)
    except httpx.HTTPError as exc:
        outcome = exc
    healthy = poll(client, tid)  # the server carries on; the faulted poll counted
    assert healthy.status_code == 200 and healthy.json()["data"]["state"] == "pending"
    check(kind, outcome, healthy)
    entry = journal_entry(client)
    assert (entry["fault"], entry["rule"], entry["taskId"]) == (kind, 0, tid)
    no_answer = kind in ("empty_response", "connection_reset", "hang")
    assert entry["status"] == (0 if no_answer else 200)


def cycles_alive() -> int:
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "RequestResponseCycle")


def test_the_server_frees_each_request_without_the_garbage_collector(client):
    """The fault middleware finds the socket through the scope; the server's request cycle holds
    that scope, so the reference must not make a loop that only the collector would free."""
    # A fault that keeps the connection: the fault middleware looks the request cycle up each time.
    load(client, {"rules": [{"when": {"endpoint": "statusTask"}, "fault": "malformed_json"}]})
    tid = client.post("/api/v1/generateTask/nano-banana", json={"input": example_input("nano-banana")}, headers=AUTH)
    tid = tid.json()["data"]["taskId"]
    gc.collect()
    gc.disable()
    try:
        before = cycles_alive()
        for _ in range(20):  # through the fault middleware (a rule acts), and the app's full path
            assert poll(client, tid).status_code == 200
            assert client.get("/__admin/health").status_code == 200
        after = cycles_alive()
    finally:
        gc.enable()
    assert after <= before + 1, (before, after)  # the keep-alive connection's current one, at most


def test_a_server_cycle_without_weak_references_is_found_all_the_same():
    class Slotted:  # a server whose request cycle takes no weak reference
        __slots__ = ("transport", "disconnected")

        def __init__(self) -> None:
            self.transport, self.disconnected = None, False

        async def receive(self) -> dict:
            return {"type": "http.disconnect"}

    cycle, scope = Slotted(), {}
    faults.remember_connection(scope, cycle.receive, None)
    assert faults._connection(scope) is cycle
    assert faults._connection({}) is None  # in-process: no server, no socket


@pytest.mark.unchecked_responses
@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_in_process(make_api, kind):
    api = make_api()
    client = api.client
    tid = fault_on_first_poll(client, SLOW if kind == "slow_body" else kind)
    try:
        outcome = poll(client, tid)
    except httpx.HTTPError as exc:
        outcome = exc
    healthy = poll(client, tid)
    check(kind, outcome, healthy)
    entry = journal_entry(client, 0)
    assert (entry["fault"], entry["rule"]) == (kind, 0)


def test_slow_body_arrives_in_pieces(client):
    tid = fault_on_first_poll(client, {"slow_body": {"chunk_bytes": 16, "interval_ms": 30}})
    chunks = []
    with client.stream("GET", "/api/v1/statusTask/nano-banana", params={"taskId": tid}, headers=AUTH) as resp:
        for chunk in resp.iter_raw():
            chunks.append(chunk)
    body = b"".join(chunks)
    assert json.loads(body)["data"]["taskId"] == tid
    assert len(chunks) >= 3  # not one write: the client saw the body dribble in


def test_hang_is_capped_by_max_ms(client):
    tid = fault_on_first_poll(client, {"hang": {"max_ms": 50}})
    with pytest.raises(httpx.RemoteProtocolError):
        poll(client, tid, timeout=10)  # the client waits longer than the cap: the server closes
    assert poll(client, tid).status_code == 200


def test_fault_on_submit_loses_the_answer_not_the_task(client):
    """The request was processed; only its answer was lost (why clients need Idempotency-Key)."""
    load(
        client,
        {"rules": [{"when": {"endpoint": "generateTask", "nth": 1}, "fault": "connection_reset"}]},
    )
    with pytest.raises(httpx.ReadError):
        client.post(
            "/api/v1/generateTask/nano-banana",
            json={"input": example_input("nano-banana")},
            headers=AUTH,
        )
    tasks = client.get("/__admin/tasks").json()["tasks"]
    assert len(tasks) == 1 and tasks[0]["state"] == "pending"


def test_fault_and_delay_on_an_injected_answer(client):
    load(
        client,
        {
            "rules": [
                {
                    "when": {"endpoint": "balance"},
                    "respond": {"status": 503},
                    "fault": "malformed_json",
                    "delay": {"ms": 5},
                }
            ]
        },
    )
    resp = client.get("/api/v1/apikeys/current-balance", headers=AUTH)
    assert resp.status_code == 503
    assert '{"code":503,"message":"Service Unavailable","data":null}'.startswith(resp.text)
