"""The bad-input corpus (issue 17): hostile requests to every endpoint of one live server.

Each case is sent as raw bytes over a socket (so no client library tidies it up) and must get a
4xx; where the mock's own code answers, in its JSON envelope with ``code`` equal to the status and
a message. After each, the server must answer a health check promptly. Slow and partial
connections must be closed within the server's request timeout, and at the end the process's
memory must be back within 64 MB of where it started.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mockserver.core.catalog import load_catalog
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread

KEY = "sk_test_hostile"
MODELS = load_catalog().names()
REQUEST_TIMEOUT_S = 0.5
HEALTHY_WITHIN_S = 0.1  # issue 17: a healthy server within 100 ms of each case
RSS_BOUND = 64 * 1024 * 1024
# Every test here times the server in real time (a health check within 100 ms, a close within the
# timeout): under pytest-xdist each runs while no other worker runs a test (tests/conftest.py), so a
# busy neighbour in the same suite cannot fail it.
pytestmark = pytest.mark.wall_clock


@pytest.fixture(scope="module")
def server():
    app = create_app(
        clock="manual",
        seed=1,
        start_ms=1_767_965_610_000,
        request_timeout_s=REQUEST_TIMEOUT_S,
        body_timeout_s=0.3,
        keep_alive_s=REQUEST_TIMEOUT_S,
    )
    with ServerThread(app) as srv:
        host, port = srv.sock.getsockname()[:2]
        srv.address = (host, port)
        exchange(srv, "GET", "/__admin/health")  # warm up before the first RSS reading
        srv.rss_before = _rss()
        yield srv
    assert srv.error is None
    assert list(app.state.errors) == [], "the mock raised (a bug answered with 500)"


def _rss() -> int:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- a raw HTTP/1.1 client ------------------------------------------------------------------


class Answer:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}

    def json(self) -> object:
        return json.loads(self.body)


def raw_exchange(srv, data: bytes | list[bytes], timeout: float = 10.0) -> tuple[Answer, float]:
    """Send ``data`` (or its parts, in turn), read the answer until the server closes; (answer, seconds)."""
    with socket.create_connection(srv.address, timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        for part in data if isinstance(data, list) else [data]:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered early (413) and closed: read what it said
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return Answer(b"".join(chunks)), time.perf_counter() - started


def request_bytes(method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None and not any(n.lower() in ("content-length", "transfer-encoding") for n in headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + (body or b"")


def exchange(srv, method, path, headers=None, body=None) -> Answer:
    return raw_exchange(srv, request_bytes(method, path, headers, body))[0]


def auth(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **extra}


def chunked(parts: list[bytes]) -> bytes:
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"


# -- the corpus ------------------------------------------------------------------------------

SUBMIT = "/api/v1/generateTask/nano-banana"
DEEP = "[" * 100 + "]" * 100


def _nested(depth: int, open_: str = "[", close: str = "]") -> bytes:
    return (open_ * depth + close * depth).encode()


def _submit_cases() -> list:
    bodies = {
        "empty": b"",
        "spaces": b"   \n\t ",
        "open-brace": b"{",
        "close-brace": b"}",
        "missing-value": b'{"input":}',
        "trailing-comma": b'{"input": {"prompt": "x",},}',
        "single-quotes": b"{'input': {}}",
        "comment": b'{"input": {} /* hi */}',
        "bom": b'\xef\xbb\xbf{"input": {"prompt": "x"}}',
        "bad-utf8": b'{"input": {"prompt": "\xff\xfe"}}',
        "utf16": '{"input": {"prompt": "x"}}'.encode("utf-16"),
        "lone-surrogate": b'{"input": {"prompt": "\\ud800"}}',
        "nan": b'{"input": {"num_images": NaN}}',
        "infinity": b'{"input": {"num_images": Infinity}}',
        "neg-infinity": b'{"input": {"num_images": -Infinity}}',
        "float-overflow": b'{"input": {"num_images": 1e999}}',
        "int-5000-digits": b'{"input": {"num_images": ' + b"9" * 5000 + b"}}",
        "int-4000-digits": b'{"input": {"mode": "text-to-image", "prompt": "x", "num_images": ' + b"9" * 4000 + b"}}",
        "null": b"null",
        "true": b"true",
        "zero": b"0",
        "string": b'"input"',
        "array": b"[1, 2, 3]",
        "deep-65-arrays": b'{"input": ' + _nested(65) + b"}",
        "deep-1000-arrays": b'{"input": ' + _nested(1000) + b"}",
        "deep-100000-arrays": _nested(100_000),
        "deep-objects": b'{"a":' * 500 + b"1" + b"}" * 500,
        "unclosed-deep": b"[" * 200_000,
        "empty-arrays-300k": b"[" + b"[]," * 300_000 + b"[]]",
        "brackets-in-strings": b'{"input": {"prompt": "' + b"[" * 5000 + b'"}}',
        "image-urls-300k-ints": b'{"input": {"mode": "text-to-image", "prompt": "x", "image_urls": ['
        + b",".join([b"1"] * 300_000)
        + b"]}}",
        "image-urls-60k-urls": json.dumps(
            {"input": {"mode": "text-to-image", "prompt": "x", "image_urls": ["http://a/b"] * 60_000}}
        ).encode(),
        "prompt-900k": json.dumps({"input": {"mode": "text-to-image", "prompt": "x" * 900_000}}).encode(),
        "keys-50k": json.dumps({"input": {f"k{i}": 1 for i in range(50_000)}}).encode(),
        "unknown-top-field": b'{"input": {}, "evil": true}',
        "callback-self-admin": b'{"request_type": "callback", "callback_url": "http://127.0.0.1:PORT/__admin/reset",'
        b' "input": {"mode": "text-to-image", "prompt": "x"}}',
        "callback-metadata": b'{"request_type": "callback", "callback_url": "http://169.254.169.254/latest/",'
        b' "input": {"mode": "text-to-image", "prompt": "x"}}',
        "callback-decimal-ip": b'{"request_type": "callback", "callback_url": "http://2130706433/hook",'
        b' "input": {"mode": "text-to-image", "prompt": "x"}}',
        "callback-zero-ip": b'{"request_type": "callback", "callback_url": "http://0.0.0.0:1/hook",'
        b' "input": {"mode": "text-to-image", "prompt": "x"}}',
        "callback-v6-any": b'{"request_type": "callback", "callback_url": "http://[::]:1/hook",'
        b' "input": {"mode": "text-to-image", "prompt": "x"}}',
        "callback-space": b'{"request_type": "callback", "callback_url": "http://host/a b",'
        b' "input": {"mode": "text-to-image", "prompt": "x"}}',
        "callback-file-scheme": b'{"request_type": "callback", "callback_url": "file:///etc/passwd",'
        b' "input": {"mode": "text-to-image", "prompt": "x"}}',
        "callback-long": json.dumps({"request_type": "callback", "callback_url": "http://a/" + "b" * 5000}).encode(),
    }
    cases = [pytest.param("POST", SUBMIT, auth(), body, id=f"submit-{name}") for name, body in bodies.items()]
    cases.append(
        pytest.param(
            "POST",
            "/api/v1/generateTask/midjourney",
            auth(**{"Idempotency-Key": "a"}),
            b'{"input": {"mode": "imagine", "prompt": "x", "mask": ' + _nested(968) + b"}}",
            id="submit-deep-968-idempotency-key",
        )
    )
    for model in MODELS:
        for name, body in {
            "input-null": b'{"input": null}',
            "input-list": b'{"input": [1]}',
            "input-deep": b'{"input": {"prompt": ' + DEEP.encode() + b"}}",
        }.items():
            cases.append(pytest.param("POST", f"/api/v1/generateTask/{model}", auth(), body, id=f"{model}-{name}"))
    return cases


def _size_cases() -> list:
    over = b'{"input": {"prompt": "' + b"x" * (1024 * 1024 + 10) + b'"}}'
    return [
        pytest.param("POST", SUBMIT, auth(), over, id="submit-over-1MiB"),
        pytest.param(
            "POST",
            SUBMIT,
            auth(**{"Transfer-Encoding": "chunked"}),
            chunked([b"x" * 65536] * 20),
            id="submit-chunked-1.3MiB",
        ),
        pytest.param("POST", SUBMIT, auth(**{"Content-Length": "99999999999999999999"}), b"", id="content-length-huge"),
        pytest.param("POST", SUBMIT, auth(**{"Content-Length": "10" * 30}), b"", id="content-length-60-digits"),
        pytest.param(
            "POST",
            "/__admin/rules",
            {"Transfer-Encoding": "chunked"},
            chunked([b"x" * 65536] * 40),
            id="admin-rules-chunked-2.6MiB",
        ),
        pytest.param(
            "PUT",
            "/__admin/scenario",
            {"Transfer-Encoding": "chunked", "Content-Type": "application/yaml"},
            chunked([b"# " + b"x" * 65534] * 40),
            id="admin-scenario-chunked-2.6MiB",
        ),
        pytest.param(
            "PUT",
            "/__admin/scenario",
            {"Content-Length": str(50 * 1024 * 1024)},
            b"",
            id="admin-scenario-declared-50MB",
        ),
    ]


def _path_cases() -> list:
    paths = [
        "/files/x/../../pyproject.toml",
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/..%2f..%2fpyproject.toml/0.png",
        "/files/task_0/" + "9" * 5001 + ".png",
        "/files/task_0/%C2%B2.png",
        "/files/task_0/0.png%00.txt",
        "/files/" + "a" * 8000 + "/0.png",
        "/schemas/../../pyproject.toml",
        "/schemas/%2e%2e/%2e%2e/pyproject.toml",
        "/schemas/models/..%2f..%2fREADME.md",
        "/schemas/models/nope.json",
        "/api/v1/statusTask/nano-banana",
        "/api/v1/statusTask/nano-banana?taskId=",
        "/api/v1/statusTask/nano-banana?taskId=" + "x" * 10_000,
        "/api/v1/statusTask/nano-banana?taskId=..%2F..%2Fetc%2Fpasswd",
        "/api/v1/statusTask/nano-banana?taskId=%00",
        "/api/v1/statusTask/nano-banana?taskId=%FF%FE",
        "/api/v1/statusTask/nano-banana?" + "&".join(["taskId=a"] * 2000),
        "/api/v1/statusTask/..%2f..%2fadmin?taskId=a",
        "/api/v1/statusTask/%F0%9F%92%A9?taskId=a",
        "/api/v1/generateTask/%2e%2e",
        "/api/v1/../../__admin/reset",
        "/__admin/tasks/..%2f..%2fetc%2fpasswd",
        "/__admin/tasks/" + "x" * 5000,
        "/__admin/accounts/" + "%FF" * 100 + "/x",
        "/__admin/journal?since=abc",
        "/__admin/journal?limit=" + "9" * 5000,
        "/__admin/journal?since=" + "9" * 5000,
        "/__admin/callbacks?since=-1&limit=x",
        "/__admin/nope",
        "/nope" * 1000,
        "/%00",
    ]
    return [pytest.param("GET", p, auth(), None, id=f"get-{p[:40]}") for p in paths]


def _header_cases() -> list:
    headers = {
        "no-auth": {},
        "bearer-only": {"Authorization": "Bearer"},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
        "key-10k": {"Authorization": "Bearer " + "k" * 10_000},
        "key-latin1": {"Authorization": "Bearer \xe9\xe8\xff"},
        "key-spaces": {"Authorization": "Bearer    "},
        "key-tab": {"Authorization": "Bearer\tkey"},
        "content-type-xml": {"Authorization": f"Bearer {KEY}", "Content-Type": "application/xml"},
        "content-length-negative": {"Authorization": f"Bearer {KEY}", "Content-Length": "-1"},
    }
    out = [
        pytest.param("GET", "/api/v1/apikeys/current-balance", h, None, id=f"balance-{n}")
        for n, h in headers.items()
        # Any key works in open mode, whatever its length or bytes: those go to the submit below.
        if n not in ("content-length-negative", "key-10k", "key-latin1", "content-type-xml")
    ]
    out += [pytest.param("POST", SUBMIT, h, b"{}", id=f"submit-header-{n}") for n, h in headers.items()]
    return out


def _method_cases() -> list:
    targets = [
        SUBMIT,
        "/api/v1/statusTask/nano-banana?taskId=a",
        "/api/v1/apikeys/current-balance",
        "/files/task_0/0.png",
        "/__admin/health",
        "/__admin/reset",
        "/__admin/scenario",
        "/openapi.json",
    ]
    methods = ["PUT", "DELETE", "PATCH", "OPTIONS", "FOO"]
    return [
        pytest.param(m, t, auth(), b"{}", id=f"{m}-{t[:30]}")
        for t in targets
        for m in methods
        if (m, t) != ("PUT", "/__admin/scenario")  # a real route: {} is the empty scenario
    ]


def _admin_cases() -> list:
    yaml = {"Content-Type": "application/yaml"}
    scenario_yaml = {
        "billion-laughs": b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + b"".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
            f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n".encode()
            for i in range(8)
        ),
        "python-object": b"name: !!python/object/apply:os.system ['echo pwned']",
        "python-name": b"name: !!python/name:os.system",
        "int-5000-digits": b"seed: " + b"9" * 5000,
        "deep-flow": b"rules: " + b"[" * 1000 + b"]" * 1000,
        "deep-block": b"".join(b"  " * i + b"a:\n" for i in range(200)),
        "tab-indent": b"name: x\n\tseed: 1",
        "date": b"name: 2024-01-01",
        "bad-date": b"name: 2024-13-45",
        "binary": b"name: !!binary aGVsbG8=",
        "nan": b"clock: {mode: real, scale: .nan}",
        "inf": b"clock: {mode: real, scale: .inf}",
        "scale-1e308": b"clock: {mode: real, scale: 1e308}",
        "non-string-key": b"? [1, 2]\n: x",
        "bad-utf8": b"name: \xff\xfe",
        "secret-not-base64": b"callbacks: {secret: 'not base64 !!'}",
        "timeout-huge": b"callbacks: {timeout_ms: 1000000000000}",
        "backoff-huge": b"callbacks: {backoff_ms: [1000000000000000]}",
        "regex-catastrophic": b"rules: [{when: {prompt: '^(a+)+$'}, fail: {code: CONTENT_VIOLATION}}]",
        "regex-invalid": b"rules: [{when: {prompt: '('}, fail: {code: CONTENT_VIOLATION}}]",
        "regex-long": b"rules: [{when: {prompt: '" + b"a" * 2000 + b"'}, fail: {code: CONTENT_VIOLATION}}]",
        "delay-huge": b"rules: [{delay: {ms: 100000000000}}]",
        "lognormal-huge": b"rules: [{delay: {lognormal: {median_ms: 1e300, sigma: 5}}}]",
        "seed-negative": b"seed: -1",
        "seed-huge": b"seed: 99999999999999999999",
        "start-huge": b"clock: {mode: manual, start_ms: 99999999999999999999}",
        "ttl-huge": b"results: {ttl_ms: 1000000000000000000000}",
        "balance-huge": b"accounts: [{key: k, balance: 1e300}]",
        "unknown-key": b"explode: true",
        "list-doc": b"- 1\n- 2",
        "string-doc": b"just a string",
        "multi-doc": b"a: 1\n---\nb: 2",
        "header-name-bad": b"rules: [{respond: {status: 500, headers: {'Bad Name': x}}}]",
        "status-999": b"rules: [{respond: {status: 999}}]",
        "100-KiB": b"rules:\n" + b"  - {when: {endpoint: balance}, respond: {status: 503}}\n" * 1900,
        "rules-1001": b"rules:\n" + b"  - {when: {endpoint: balance}, respond: {status: 503}}\n" * 1001,
    }
    cases = [
        pytest.param("PUT", "/__admin/scenario", yaml, body, id=f"scenario-yaml-{n}")
        for n, body in scenario_yaml.items()
    ]
    scenario_json = {
        "nan": b'{"clock": {"mode": "real", "scale": NaN}}',
        "deep": _nested(10_000, '{"a":', "}").replace(b"}" * 10_000, b"1" + b"}" * 10_000),
        "truncated": b'{"name": "x"',
        "array": b"[]",
        "huge-int": b'{"seed": ' + b"9" * 5000 + b"}",
    }
    cases += [
        pytest.param("PUT", "/__admin/scenario", {"Content-Type": "application/json"}, b, id=f"scenario-json-{n}")
        for n, b in scenario_json.items()
    ]
    rules = {
        "empty": b"",
        "not-json": b"{",
        "array": b"[]",
        "no-action": b'{"when": {"endpoint": "submit"}}',
        "regex-catastrophic": b'{"when": {"prompt": "(x+x+)+y"}, "fail": {"code": "CONTENT_VIOLATION"}}',
        "nan": b'{"when": {"probability": NaN}, "respond": {"status": 500}}',
        "deep-body": b'{"respond": {"status": 500, "body": ' + _nested(100) + b"}}",
        "bad-utf8": b'{"name": "\xff"}',
    }
    cases += [pytest.param("POST", "/__admin/rules", {}, b, id=f"rules-{n}") for n, b in rules.items()]
    advance = [b'{"ms": -1}', b'{"ms": 1.5}', b'{"ms": NaN}', b'{"ms": "1"}', b'{"to": "never"}', b'{"to": -5}']
    advance += [b'{"ms": 1, "to": "next"}', b"[1]", b'{"ms": ' + b"9" * 5000 + b"}", b'{"to": 1e999}']
    cases += [pytest.param("POST", "/__admin/clock/advance", {}, b, id=f"advance-{i}") for i, b in enumerate(advance)]
    balances = [b'{"balance": -1}', b'{"balance": 1e308}', b'{"balance": NaN}', b'{"balance": "1"}', b"{}", b"[]"]
    cases += [pytest.param("PUT", "/__admin/accounts/k", {}, b, id=f"balance-{i}") for i, b in enumerate(balances)]
    fails = [b'{"code": "bad code"}', b'{"code": 5}', b'{"message": 5}', b'{"code": "' + b"A" * 100 + b'"}']
    cases += [pytest.param("POST", "/__admin/tasks/nope/fail", {}, b, id=f"fail-{i}") for i, b in enumerate(fails)]
    return cases


CORPUS = [*_submit_cases(), *_size_cases(), *_path_cases(), *_header_cases(), *_method_cases(), *_admin_cases()]


def test_the_corpus_has_at_least_150_cases():
    assert len(CORPUS) >= 150, len(CORPUS)


@pytest.mark.parametrize(("method", "path", "headers", "body"), CORPUS)
def test_hostile_request_gets_a_4xx_and_the_server_stays_healthy(server, method, path, headers, body):
    if body is not None:
        body = body.replace(b"PORT", str(server.address[1]).encode())
    answer, _ = raw_exchange(server, request_bytes(method, path, headers, body))
    assert 400 <= answer.status < 500, (answer.status, answer.body[:300])
    if answer.headers.get("content-type", "").startswith("application/json"):
        envelope = answer.json()
        assert envelope["code"] == answer.status, envelope
        assert envelope["message"]
    else:
        # Not our code: uvicorn refusing what is not HTTP, or our connection guard (431).
        assert answer.headers.get("server") == "uvicorn" or answer.status == 431, (answer.status, answer.headers)
    _assert_healthy(server)


def _assert_healthy(server) -> None:
    answer, elapsed = raw_exchange(server, request_bytes("GET", "/__admin/health"))
    assert answer.status == 200 and answer.json()["status"] == "ok"
    assert elapsed < HEALTHY_WITHIN_S, f"health took {elapsed * 1000:.0f} ms"


# -- slow and partial connections -------------------------------------------------------------


def _closed_within(server, parts: list[bytes], bound: float) -> tuple[bytes, float]:
    """Send ``parts`` and wait (on the socket, with a deadline) for the server to close."""
    with socket.create_connection(server.address, timeout=bound + 5) as sock:
        for part in parts:
            sock.sendall(part)
        started = time.perf_counter()
        got = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return got, time.perf_counter() - started
            got += chunk


SLOW_AND_PARTIAL = {
    "silent": [],
    "half-a-request-line": [b"GET /__admin/hea"],
    "headers-never-end": [b"GET /__admin/health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n"],
    "body-never-comes": [request_bytes("POST", SUBMIT, auth(**{"Content-Length": "100"})) + b"{"],
    "admin-body-never-comes": [b"PUT /__admin/scenario HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"],
    "body-to-a-handler-that-ignores-it": [b"GET /__admin/health HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{"],
    "idle-keep-alive": [b"GET /__admin/health HTTP/1.1\r\nHost: x\r\n\r\n"],
}


@pytest.fixture(scope="module")
def slow_and_partial(server):
    """Every case's connection of the test below, each on a thread of its own, opened at once.

    Each waits out the server's timeout (0.5-0.8 s): one after another they took ~4 s, a run alone
    (wall_clock); side by side, about one timeout. Each case's test reads its own connection's
    outcome (what it got, how long it stayed open) and checks it as before.
    """
    with ThreadPoolExecutor(len(SLOW_AND_PARTIAL)) as pool:
        yield {
            name: pool.submit(_closed_within, server, parts, REQUEST_TIMEOUT_S)
            for name, parts in SLOW_AND_PARTIAL.items()
        }


@pytest.mark.parametrize(("name", "parts"), list(SLOW_AND_PARTIAL.items()))
def test_slow_and_partial_connections_are_closed_within_the_timeout(server, slow_and_partial, name, parts):
    got, elapsed = slow_and_partial[name].result(timeout=REQUEST_TIMEOUT_S + 10)
    assert elapsed < REQUEST_TIMEOUT_S + 1.0, f"{name}: open {elapsed:.2f} s"
    if name in ("body-never-comes", "admin-body-never-comes"):
        assert got.startswith(b"HTTP/1.1 408 "), got[:200]
    _assert_healthy(server)


def test_a_head_larger_than_64_kib_is_431(server):
    got, _ = _closed_within(server, [b"GET / HTTP/1.1\r\nX-A: " + b"a" * 70_000], REQUEST_TIMEOUT_S)
    assert got.startswith(b"HTTP/1.1 431 ")
    _assert_healthy(server)


def test_a_slow_header_sender_is_cut_off(server):
    with socket.create_connection(server.address, timeout=5) as sock:
        started = time.perf_counter()
        closed = False
        for _ in range(200):  # one byte every 20 ms: fast enough to defeat an idle timer, never done
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sock.settimeout(0.02)
            try:
                if sock.recv(100) == b"":
                    closed = True
                    break
            except ConnectionResetError:
                closed = True
                break
            except TimeoutError:
                pass
        assert closed and time.perf_counter() - started < REQUEST_TIMEOUT_S + 1.0
    _assert_healthy(server)


def test_many_partial_connections_do_not_starve_the_server(server):
    socks = []
    try:
        for _ in range(200):
            s = socket.create_connection(server.address, timeout=5)
            s.sendall(b"GET /__admin/health HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        _assert_healthy(server)
        for s in socks:  # each is closed by the server within the timeout
            s.settimeout(REQUEST_TIMEOUT_S + 5)
            assert s.recv(100) == b""
    finally:
        for s in socks:
            s.close()


def test_zz_memory_is_back_within_64_mb_after_the_corpus(server):
    # Runs after the corpus above (pytest keeps file order).
    grown = _rss() - server.rss_before
    print(f"RSS after the corpus: {grown / 2**20:+.1f} MB")  # shown with -s
    assert grown < RSS_BOUND, f"RSS grew {grown / 2**20:.0f} MB over the corpus"
