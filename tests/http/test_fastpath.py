"""The status fast path answers exactly as the Starlette handler (the reference) does, with and
without scenario rules that could act on polls."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import socket

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver.core.words import FAILED, PENDING, PROCESSING, STATUS, SUCCESS, TaskView
from mockserver.http import provider as http_api
from mockserver.http.app import create_app
from mockserver.http.fastpath import query_value
from mockserver.http.server import ServerThread
from tests.conftest import START_MS, example_input, in_process

# A status rule that never acts (no request has this key): the fast path asks the rules and
# answers itself.
SLOW = {"rules": [{"when": {"endpoint": "statusTask", "key": "nobody"}, "respond": {"status": 503}}]}
# Status rules that act on some polls: those go down the full stack with the fast path's decision.
ACTING = {
    "rules": [
        {"when": {"endpoint": "status", "key": "nobody"}, "respond": {"status": 503}},
        {"when": {"endpoint": "status", "task_state": "pending", "nth": 4}, "fail": {"code": "MODEL_UNAVAILABLE"}},
        {"when": {"endpoint": "status", "task_state": "failed", "nth": 1}, "fault": "malformed_json"},
        {"when": {"endpoint": "statusTask", "after": 2, "probability": 0.5}, "respond": {"status": 502}},
    ]
}


# Status rules limited to keys: the fast path skips the rules for a key none of them names.
KEYED = {
    "rules": [
        {"when": {"endpoint": "status", "key": "sk_other", "nth": 2}, "respond": {"status": 503}},
        {"when": {"endpoint": "statusTask", "key": "sk_a", "nth": 3}, "fault": "malformed_json"},
        {
            "when": {"endpoint": "status", "key": "sk_a", "after": 5},
            "times": 3,
            "respond": {"status": 429, "retry_after": 1},
        },
    ]
}


@contextlib.contextmanager
def client(app, live: bool, starlette: bool = False, **server_options):
    """(client, raw GET or None): in-process (our thread-free client, or Starlette's TestClient
    with ``starlette``), or over sockets to the app served by uvicorn (``make_server``), its GETs
    sent and read as bytes on one keep-alive connection."""
    if not live:
        with in_process(app, starlette) as c:
            yield c, None
        return
    with ServerThread(app, **server_options) as server, httpx.Client(base_url=server.url, timeout=10) as c:
        host, port = server.sock.getsockname()[:2]
        with socket.create_connection((host, port), timeout=10) as sock:
            yield c, functools.partial(raw_get, sock)
    if server.error is not None:
        raise server.error


def raw_get(sock: socket.socket, target: str, headers: dict[str, str]) -> bytes:
    """The bytes of the answer to ``GET target`` (read to its content-length), its date line left out."""
    lines = [f"GET {target} HTTP/1.1", "Host: mock", *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    fields = head.split(b"\r\n")
    length = next(int(f.split(b":")[1]) for f in fields if f.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, data
        body += chunk
    assert len(body) == length, "more than one answer"
    return b"\r\n".join(f for f in fields if not f.lower().startswith(b"date:")) + b"\r\n\r\n" + body


def run(
    scenario: dict,
    extra: dict | None = None,
    fast_path: bool = True,
    live: bool = False,
    starlette: bool = False,
    **server,
) -> list[tuple]:
    doc = {**scenario, **(extra or {})}
    app = create_app(clock="manual", seed=5, start_ms=START_MS, scenario=doc, fast_path=fast_path)
    auth = {"Authorization": "Bearer sk_a"}
    tape = []
    with client(app, live, starlette, **server) as (c, raw):
        tid = c.post("/api/v1/generateTask/nano-banana", json={"input": example_input("nano-banana")}, headers=auth)
        tid = tid.json()["data"]["taskId"]
        other = c.post("/api/v1/generateTask/gpt-image-1", json={"input": example_input("gpt-image-1")}, headers=auth)
        other = other.json()["data"]["taskId"]
        requests = [
            ("/api/v1/statusTask/nano-banana", f"taskId={tid}", auth),
            ("/api/v1/statusTask/nano-banana", f"taskId={tid}", {}),
            ("/api/v1/statusTask/nano-banana", f"taskId={tid}", {"Authorization": "Bearer "}),
            ("/api/v1/statusTask/nano-banana", "", auth),
            ("/api/v1/statusTask/nano-banana", "taskId=", auth),
            ("/api/v1/statusTask/nano-banana", "taskId=task_nope", auth),
            ("/api/v1/statusTask/nano-banana", f"taskId={other}", auth),
            ("/api/v1/statusTask/nope", f"taskId={tid}", auth),
            ("/api/v1/statusTask/nano-banana", f"x=1&taskId={tid}", auth),
            ("/api/v1/statusTask/nano-banana", f"taskId=junk&taskId={tid}", auth),
            ("/api/v1/statusTask/nano-banana", f"taskId={tid.replace('_', '%5F')}", auth),
            ("/api/v1/statusTask/nano-banana", f"taskId={tid}", {"Authorization": "Bearer sk_other"}),
        ]
        for step in range(3):
            for path, query, headers in requests:
                target = f"{path}?{query}" if query else path
                if raw is not None:
                    tape.append((step, path, query, raw(target, headers)))  # the bytes on the wire
                    continue
                r = c.get(target, headers=headers)
                tape.append(
                    (
                        step,
                        path,
                        query,
                        r.status_code,
                        r.headers["content-type"],
                        r.content,
                        r.headers.get("retry-after"),
                        r.headers.raw,  # every header, in the order sent
                    )
                )
            c.post("/__admin/clock/advance", json={"to": "next"})
        # The whole journal (every field of every entry, ids and arrival numbers included) and
        # the client report (findings, counts, evidence ids) are the same both ways.
        tape.append(("journal", c.get("/__admin/journal").json()))
        tape.append(("report", c.get("/__admin/report").json()))
    return tape


# The cases the tape is compared on, in process and live: answer settings, then rule sets.
each_setting = pytest.mark.parametrize(
    "extra",
    [None, {"errors_as_200": True}, {"limits": {"requests_per_minute": 20}}],
    ids=["plain", "errors-as-200", "rate-limited"],
)
each_rule_set = pytest.mark.parametrize(
    "rules", [{}, SLOW, ACTING, KEYED], ids=["no-rules", "rule-never-acts", "rules-act", "keyed-rules-act"]
)


@each_setting
@each_rule_set
def test_fast_and_slow_paths_give_the_same_tape(extra, rules):
    fast, slow = run(rules, extra), run(rules, extra, fast_path=False)
    assert fast == slow


@each_setting
@each_rule_set
def test_fast_and_slow_paths_give_the_same_tape_live(extra, rules):
    """Served by uvicorn, where the fast path has the head and body written at once (ONE_WRITE):
    the same status lines, headers in the same order, bodies, journal and report."""
    assert run(rules, extra, live=True) == run(rules, extra, fast_path=False, live=True)


@pytest.mark.parametrize("rules", [SLOW, ACTING, KEYED], ids=["rule-never-acts", "rules-act", "keyed-rules-act"])
def test_starlettes_testclient_gets_the_same_tape_on_both_paths(rules):
    """The in-process tapes above are taken with the thread-free client (mockserver.testing), ten
    times faster a request; Starlette's TestClient, as a user may drive the app, gets the same."""
    extra = {"errors_as_200": True}
    assert run(rules, extra, starlette=True) == run(rules, extra) == run(rules, extra, fast_path=False, starlette=True)


def test_fast_and_slow_paths_give_the_same_tape_live_on_h11():
    extra = {"limits": {"requests_per_minute": 20}}
    assert run(ACTING, extra, live=True, http="h11") == run(ACTING, extra, fast_path=False, live=True, http="h11")


def test_the_status_body_cache_answers_what_encoding_answers(monkeypatch):
    """Polls answered from the cache of encoded bodies, and each encoded afresh: the same tape
    (pending, processing, success and failed tasks, injected failures, both paths)."""
    cached = [run(ACTING), run(KEYED, {"errors_as_200": True}), run(ACTING, fast_path=False)]

    def afresh(dialect, view):
        return dialect.dumps(dialect.status_body(view))

    monkeypatch.setattr(http_api, "encoded_status", afresh)
    assert cached == [run(ACTING), run(KEYED, {"errors_as_200": True}), run(ACTING, fast_path=False)]


@pytest.mark.parametrize("dialect_name", ["apixo", "123api"])
def test_a_status_body_is_remembered_by_every_field_of_its_view(dialect_name):
    dialect = create_app(clock="manual").state.mock.dialects[dialect_name]
    views = [
        TaskView("task_1", "gpt-image-1", PENDING, 1000),
        TaskView("task_1", "gpt-image-1", PROCESSING, 1000),
        TaskView("task_1", "gpt-image-1", SUCCESS, 1000, 5000, ("http://h/files/task_1/0.png",)),
        TaskView("task_1", "gpt-image-1", FAILED, 1000, 5000, (), "CONTENT_POLICY", None),
    ]
    changed = {
        "task_id": "task_2",
        "model": "nano-banana",
        "created_ms": 1001,
        "complete_ms": 5001,
        "result_urls": ("http://other/files/task_1/0.png",),
        "fail_code": "TIMEOUT",
        "fail_msg": "it broke",
    }
    for view in views:
        assert http_api.encoded_status(dialect, view) == dialect.dumps(dialect.status_body(view))
        for name, value in changed.items():
            other = dataclasses.replace(view, **{name: value})
            assert http_api.encoded_status(dialect, other) == dialect.dumps(dialect.status_body(other)), name
        assert http_api.encoded_status(dialect, view) == dialect.dumps(dialect.status_body(view))


def test_the_status_body_cache_is_bounded():
    dialect = create_app(clock="manual").state.mock.dialects["apixo"]
    for n in range(http_api.MAX_STATUS_BODIES * 2 + 5):
        view = TaskView(f"task_{n}", "gpt-image-1", PENDING, n)
        assert http_api.encoded_status(dialect, view) == dialect.dumps(dialect.status_body(view))
        assert len(http_api._STATUS_BODIES) <= http_api.MAX_STATUS_BODIES


def test_a_rule_that_never_acts_changes_nothing():
    assert run(SLOW) == run({})


def test_the_fast_path_is_taken_when_nothing_needs_the_router(monkeypatch):
    async def refuse(request, dialect):
        raise AssertionError("the Starlette status handler ran")

    monkeypatch.setitem(http_api.HANDLERS, STATUS, refuse)
    app = create_app(clock="manual")  # routes are built now, with the refusing handler
    with TestClient(app) as c:
        r = c.get("/api/v1/statusTask/nano-banana", params={"taskId": "task_x"}, headers={"Authorization": "Bearer k"})
        assert r.status_code == 404 and r.json()["code"] == 404
        # a rule that cannot act on polls (submits only) leaves them on the fast path
        c.put("/__admin/scenario", json={"rules": [{"when": {"endpoint": "generateTask"}, "respond": {"status": 503}}]})
        r = c.get("/api/v1/statusTask/nano-banana", params={"taskId": "task_x"}, headers={"Authorization": "Bearer k"})
        assert r.status_code == 404
        # a status rule that does not act on this poll leaves it on the fast path too
        c.put("/__admin/scenario", json=SLOW)
        r = c.get("/api/v1/statusTask/nano-banana", params={"taskId": "task_x"}, headers={"Authorization": "Bearer k"})
        assert r.status_code == 404
        # a rule that acts on it sends it through the router (and the refusing handler)
        c.put("/__admin/scenario", json={"rules": [{"when": {"endpoint": "statusTask", "key": "k"}, "fault": "hang"}]})
        with pytest.raises(AssertionError, match="Starlette status handler"):
            c.get("/api/v1/statusTask/nano-banana", params={"taskId": "task_x"}, headers={"Authorization": "Bearer k"})


@pytest.mark.parametrize(
    ("qs", "expected"),
    [
        (b"taskId=abc", "abc"),
        (b"taskId=a%20b", "a b"),
        (b"taskId=a+b", "a b"),
        (b"taskId=", ""),
        (b"", None),
        (b"x=1&taskId=t", "t"),
        (b"taskId=1&taskId=2", "2"),
        (b"taskIdx=1", None),
    ],
)
def test_query_value(qs, expected):
    assert query_value(qs, "taskId") == expected


def test_a_bug_on_the_fast_path_is_kept_journaled_and_raised(monkeypatch):
    app = create_app(clock="manual")
    with TestClient(app) as c:
        tid = c.post(
            "/api/v1/generateTask/nano-banana",
            json={"input": example_input("nano-banana")},
            headers={"Authorization": "Bearer k"},
        ).json()["data"]["taskId"]

        def broken(*a, **kw):
            raise RuntimeError("boom")

        monkeypatch.setattr(app.state.mock, "poll", broken)
        with pytest.raises(RuntimeError, match="boom"):
            c.get("/api/v1/statusTask/nano-banana", params={"taskId": tid}, headers={"Authorization": "Bearer k"})
        assert [str(e) for e in app.state.errors] == ["boom"]
        last = c.get("/__admin/journal").json()["entries"][-1]
        assert last["status"] == 500 and "mockserver bug: RuntimeError: boom" in last["error"]
