"""The provider routes other than status polls (submits, result files, balance, models) skip the
router: with no rule that could act on them, straight to their handler; with one, through the
app's journal and fault middleware around the handler. Either way they answer, journal and grade
exactly as the full Starlette stack does (the reference), faults and delays included."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette import routing
from starlette.testclient import TestClient

from mockserver.http.app import create_app
from tests.conftest import START_MS, example_input, in_process
from tests.http.spies import paths_through

AUTH = {"Authorization": "Bearer sk_a"}
NANO = "/api/v1/generateTask/nano-banana"
IMAGES = "/v1/images/generations"
BALANCE = "/api/v1/apikeys/current-balance"
GOOD = {"input": example_input("nano-banana")}
GOOD_123 = {"model": "gpt-4o-image", "prompt": "a fox", "size": "1:1", "n": 1}

ON_FILES = {
    "rules": [
        {"when": {"endpoint": "files", "nth": 2}, "respond": {"status": 503, "retry_after": 2}},
        {"when": {"endpoint": "files", "nth": 3}, "fault": "malformed_json"},
        {"when": {"endpoint": "files", "nth": 4}, "fault": "truncated_body"},
        {"when": {"endpoint": "files", "nth": 5}, "delay": {"ms": 1}},
        {"when": {"endpoint": "files", "nth": 6}, "fault": "slow_body", "delay": {"ms": 0}},
    ]
}
ON_SUBMITS = {
    "rules": [
        {"when": {"endpoint": "generateTask", "nth": 2}, "fault": "connection_reset"},
        {"when": {"endpoint": "generateTask", "nth": 3}, "respond": {"status": 429, "retry_after": 1}},
        {"when": {"endpoint": "generateTask", "nth": 4}, "fault": "empty_response", "delay": {"ms": 1}},
    ]
}
ON_ACCOUNTS = {
    "rules": [
        {"when": {"endpoint": "balance", "nth": 1}, "respond": {"status": 500}},
        {"when": {"endpoint": "models", "nth": 2}, "fault": "hang"},
        {"when": {"endpoint": "balance", "after": 1}, "delay": {"ms": 1}},
    ]
}
NEVER = {
    "rules": [
        {"when": {"endpoint": e, "key": "nobody"}, "respond": {"status": 503}}
        for e in ("generateTask", "files", "balance", "models")
    ]
}


def _answer(c: httpx.Client, method: str, url: str, **kw) -> tuple:
    try:
        r = c.request(method, url, **kw)
    except httpx.HTTPError as exc:  # an injected fault, in process
        return ("raised", type(exc).__name__, str(exc))
    h = r.headers
    return (r.status_code, h.get("content-type"), h.get("content-length"), h.get("retry-after"), r.content)


def run(scenario: dict, fast_path: bool = True, starlette: bool = False) -> list:
    """The tape, in process: through the thread-free client (mockserver.testing), or through
    Starlette's TestClient with ``starlette``."""
    app = create_app(clock="manual", seed=5, start_ms=START_MS, scenario=scenario, fast_path=fast_path)
    tape: list = []
    with in_process(app, starlette) as c:
        ids = []
        for i in range(5):
            answer = _answer(c, "POST", NANO, json=GOOD, headers={**AUTH, "Idempotency-Key": f"k{i % 3}"})
            tape.append(answer)
            if answer[0] == 200:
                ids.append(json.loads(answer[-1])["data"]["taskId"])
        tape.append(_answer(c, "POST", IMAGES, json=GOOD_123, headers=AUTH))
        tape.append(_answer(c, "POST", IMAGES, json={"model": "nope"}, headers=AUTH))
        c.post("/__admin/clock/advance", json={"to": "idle"})
        urls = []
        for tid in ids[:2]:
            body = c.get("/api/v1/statusTask/nano-banana", params={"taskId": tid}, headers=AUTH).json()
            urls += json.loads(body["data"]["resultJson"])["resultUrls"]
        assert urls, tape
        paths = [httpx.URL(u).path for u in urls]
        for path in [*paths, *paths, *paths, paths[0].replace(".png", ".jpg"), "/files/task_nope/0.png"]:
            tape.append(_answer(c, "GET", path))
        tape.append(_answer(c, "GET", "/files/" + "x" * 300))  # no such route: the router's 404
        for _ in range(3):
            tape.append(_answer(c, "GET", BALANCE, headers=AUTH))
            tape.append(_answer(c, "GET", BALANCE))
            tape.append(_answer(c, "GET", "/v1/models", headers=AUTH))
        tape.append(_answer(c, "HEAD", paths[0]))
        tape.append(_answer(c, "PUT", paths[0]))
        tape.append(("journal", c.get("/__admin/journal").json()["entries"]))
        tape.append(("report", c.get("/__admin/report").json()))
        tape.append(("rules", c.get("/__admin/rules").json()))
    return tape


@pytest.mark.parametrize(
    "scenario",
    [
        {},
        {"errors_as_200": True},
        {"limits": {"requests_per_minute": 9}, "retry_hint": "header"},
        {"accounts": [{"key": "sk_a", "balance": 2}], "insufficient_credits": "code_400"},
        NEVER,
        ON_FILES,
        ON_SUBMITS,
        ON_ACCOUNTS,
        {**ON_FILES, "errors_as_200": True, "retry_hint": "body"},
    ],
    ids=["plain", "as-200", "rate-limited", "low-balance", "rules-never-act", "files", "submits", "accounts", "mixed"],
)
def test_fast_and_full_paths_give_the_same_answers_journal_report_and_counts(scenario):
    assert run(scenario) == run(scenario, fast_path=False)


@pytest.mark.parametrize(
    "scenario", [ON_SUBMITS, {**ON_FILES, "errors_as_200": True, "retry_hint": "body"}], ids=["submits", "mixed"]
)
def test_starlettes_testclient_gets_the_same_answers_on_both_paths(scenario):
    """The tapes above are taken with the thread-free client, ten times faster a request;
    Starlette's TestClient, as a user may drive the app, gets the same, injected faults included."""
    assert run(scenario, starlette=True) == run(scenario) == run(scenario, fast_path=False, starlette=True)


def test_provider_routes_skip_the_router_with_or_without_rules(monkeypatch):
    seen = paths_through(monkeypatch, routing.Router)
    app = create_app(clock="manual")
    with TestClient(app) as c:
        for scenario in ({}, ON_FILES):
            c.put("/__admin/scenario", json=scenario)
            seen.clear()
            tid = c.post(NANO, json=GOOD, headers=AUTH).json()["data"]["taskId"]
            c.post("/__admin/clock/advance", json={"to": "idle"})
            seen.clear()
            body = c.get("/api/v1/statusTask/nano-banana", params={"taskId": tid}, headers=AUTH).json()
            path = httpx.URL(json.loads(body["data"]["resultJson"])["resultUrls"][0]).path
            assert c.get(path).status_code == 200
            assert c.get(BALANCE, headers=AUTH).status_code == 200
            assert c.get("/v1/models", headers=AUTH).status_code == 200
            assert c.post(IMAGES, json=GOOD_123, headers=AUTH).status_code == 200
            assert seen == [], scenario
        c.request("HEAD", path)  # HEAD is the router's
        assert seen == [path]
    seen.clear()
    with TestClient(create_app(clock="manual", strict=True)) as c:
        c.get(BALANCE, headers=AUTH)
        assert seen == [BALANCE]  # strict mode: the whole stack


def test_a_bug_on_the_guarded_path_is_kept_journaled_and_answered_500(monkeypatch):
    app = create_app(clock="manual", scenario=ON_ACCOUNTS)

    def broken(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(app.state.mock, "balance", broken)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.get(BALANCE, headers=AUTH)  # the first answer is the rule's 500
        r = c.get(BALANCE, headers=AUTH)
        assert r.status_code == 500 and r.json()["code"] == 500
        assert [str(e) for e in app.state.errors] == ["boom"]
        last = c.get("/__admin/journal").json()["entries"][-1]
        assert last["status"] == 500 and last["error"] == "mockserver bug: RuntimeError: boom"


def test_downloads_with_a_rule_answer_alike_in_process_and_live(api):
    """Through the guarded path, in-process and over a socket: a rule's answer, a fault, then the file."""
    rules = [
        {"when": {"endpoint": "files", "nth": 1}, "respond": {"status": 503}},
        {"when": {"endpoint": "files"}, "times": 1, "fault": "connection_reset"},
    ]
    assert api.admin("PUT", "/scenario", json={"rules": rules}).status_code == 200
    tid = api.submit_ok()
    api.advance(to="idle")
    body = api.status("nano-banana", tid).json()
    path = httpx.URL(json.loads(body["data"]["resultJson"])["resultUrls"][0]).path
    assert api.client.get(path).status_code == 503
    with pytest.raises(httpx.TransportError):
        api.client.get(path)
    got = api.client.get(path)
    assert got.status_code == 200 and got.content.startswith(b"\x89PNG")
    entries = api.admin("GET", "/journal").json()["entries"][-3:]
    assert [(e["status"], e["fault"], e["rule"] is not None) for e in entries] == [
        (503, None, True),
        (0, "connection_reset", True),
        (200, None, False),
    ]
