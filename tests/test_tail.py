"""`mockserver tail`: a real process following a live server's event stream."""

from __future__ import annotations

import json

import httpx
import pytest

from mockserver.http.app import create_app
from mockserver.http.events import describe_event
from mockserver.http.server import ServerThread
from tests.conftest import START_MS, example_input
from tests.test_cli_processes import DEADLINE_S, Running

KEY = "sk_tail_demo_1234"
H = {"Authorization": f"Bearer {KEY}"}
ADMIN = {"Authorization": "Bearer tok"}
# One poll answers 503 (a rule, once), the next is cut short (a network fault, once).
RULES = [
    {"when": {"endpoint": "statusTask"}, "respond": {"status": 503}, "times": 1},
    {"when": {"endpoint": "statusTask"}, "fault": "empty_response", "times": 1},
]


@pytest.fixture
def server():
    app = create_app(clock="manual", start_ms=START_MS, admin_token="tok")
    srv = ServerThread(app).start()
    yield srv
    srv.stop()


def traffic(url: str) -> str:
    """A submit, a 503, a fault, a pending poll, the clock to idle, a success poll, a reset."""
    with httpx.Client(base_url=url, timeout=DEADLINE_S) as api:
        for rule in RULES:
            assert api.post("/__admin/rules", json=rule, headers=ADMIN).status_code == 200
        body = {"input": example_input("nano-banana")}
        tid = api.post("/api/v1/generateTask/nano-banana", json=body, headers=H).json()["data"]["taskId"]
        poll = {"taskId": tid}
        assert api.get("/api/v1/statusTask/nano-banana", params=poll, headers=H).status_code == 503
        with pytest.raises(httpx.HTTPError):
            api.get("/api/v1/statusTask/nano-banana", params=poll, headers=H)
        api.get("/api/v1/statusTask/nano-banana", params=poll, headers=H)
        api.post("/__admin/clock/advance", json={"to": "idle"}, headers=ADMIN)
        api.get("/api/v1/statusTask/nano-banana", params=poll, headers=H)
        api.post("/__admin/reset", headers=ADMIN)
    return tid


def test_tail_prints_a_line_per_request_until_the_server_stops(server):
    tail = Running("tail", "--url", server.url, "--admin-token", "tok")
    tail.wait_for(r"mockserver \S+ \(apixo, 123api, manual clock")  # connected: hello
    tid = traffic(server.url)
    tail.wait_for(r"reset$")
    server.stop()  # the stream ends with the server; tail exits 0
    tail.proc.wait(timeout=DEADLINE_S)
    code, out, err = tail.stop()
    assert code == 0, err
    lines = out[1:]
    # No colour when stdout is not a terminal; keys masked; the virtual time (UTC) first.
    assert not any("\033[" in line for line in out)
    assert lines[0].split() == ["13:33:30.000", "****1234", "POST", "/api/v1/generateTask/nano-banana", "200"]
    assert lines[1].split()[2:5] == ["GET", f"/api/v1/statusTask/nano-banana?taskId={tid}", "503"]
    assert lines[2].split()[4:6] == ["---", "fault=empty_response"]  # no answer at all
    assert lines[3].split()[4:] == ["200", "state=pending"]
    assert lines[4].endswith("clock moved; 0 unfinished")
    assert lines[5].split()[4:] == ["200", "state=success"]
    assert lines[6].endswith("reset") and len(lines) == 7


def test_tail_json_gives_each_event_whole(server):
    tail = Running("tail", "--url", server.url, "--json", "--admin-token", "tok")
    tail.wait_for('"event": "hello"')
    traffic(server.url)
    tail.wait_for('"event": "reset"')
    server.stop()
    tail.proc.wait(timeout=DEADLINE_S)
    code, out, _ = tail.stop()
    events = [json.loads(line) for line in out]
    assert code == 0
    assert [e["event"] for e in events] == ["hello", *["request"] * 4, "clock", "request", "reset"]
    assert [e["data"]["status"] for e in events if e["event"] == "request"] == [200, 503, 0, 200, 200]
    assert events[1]["data"]["key"] == "****1234"


def test_tail_refuses_without_the_admin_token_and_when_nothing_listens(server):
    code, out, err = Running("tail", "--url", server.url).stop(how=0)
    assert code == 2 and out == []
    assert err[0].startswith(f"mockserver: error: {server.url}/__admin/events answered 401: ")
    server.stop()
    code, out, err = Running("tail", "--url", server.url).stop(how=0)
    assert code == 2 and err[0].startswith(f"mockserver: error: cannot reach {server.url}: ")


def test_lines_are_coloured_by_answer_for_a_terminal():
    entry = {"time": START_MS, "key": "****1234", "method": "GET", "path": "/p", "query": "", "status": 503}
    assert "\033[31m503\033[0m" in describe_event("request", entry, colour=True)
    assert "\033[32m200\033[0m" in describe_event("request", {**entry, "status": 200}, colour=True)
    faulted = describe_event("request", {**entry, "status": 0, "fault": "connection_reset"}, colour=True)
    assert "\033[35m---\033[0m" in faulted and "\033[35mfault=connection_reset\033[0m" in faulted
    assert "\033[" not in describe_event("request", entry)
